// 淘货商城 search page: results are rendered from the JSON endpoint, so a
// crawler without a browser sees an empty list.
(function () {
  var params = new URLSearchParams(location.search);
  var q = params.get("q") || "";
  var page = parseInt(params.get("page") || "1", 10);
  fetch("/api/search?q=" + encodeURIComponent(q) + "&page=" + page)
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var list = document.getElementById("goods-list");
      data.items.forEach(function (item) {
        var li = document.createElement("li");
        li.className = "goods";
        var a = document.createElement("a");
        a.className = "goods-link";
        a.href = item.url;
        a.textContent = item.title;
        var price = document.createElement("span");
        price.className = "goods-price";
        price.textContent = "¥" + (item.price || "");
        li.appendChild(a);
        li.appendChild(price);
        list.appendChild(li);
      });
      if (data.has_next) {
        var next = document.createElement("a");
        next.className = "next-page";
        next.href = "/search?q=" + encodeURIComponent(q) + "&page=" + (page + 1);
        next.textContent = "下一页";
        document.getElementById("pager").appendChild(next);
      }
      document.body.setAttribute("data-ready", "1");
    });
})();
