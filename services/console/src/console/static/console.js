// The console's own script: no inline script anywhere (the CSP forbids it).
// - every htmx request carries the session's CSRF token;
// - [data-print] buttons print the page;
// - the trend chart is drawn with Chart.js when its data arrives;
// - focus lost with a swapped-out form goes to the answer that replaced it.
(function () {
  "use strict";
  var csrf = document.body ? document.body.getAttribute("data-csrf") : null;
  document.addEventListener("htmx:configRequest", function (e) {
    if (csrf) { e.detail.headers["X-CSRF-Token"] = csrf; }
  });
  // A refusal (4xx) or a failure (5xx: a service out, 本次请求所需的服务暂不可用)
  // is shown, not dropped: in a workbench form it goes beside the form, which
  // stays so the user can correct it or send it again; elsewhere (the fit
  // form) it replaces the target as a success would. A failure htmx would
  // have dropped left the button looking dead.
  function newKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function inPageLanguage(en, zh) {
    return (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0 ? zh : en;
  }
  // What to say when the answer is not the console's own words (a proxy's
  // error page, a bare "Internal Server Error") or there is no answer at all.
  function failureSaid(status) {
    var p = document.createElement("p");
    p.className = "result error";
    p.setAttribute("role", "alert");
    p.textContent = status
      ? inPageLanguage("The request could not be served (" + status + "): please try again shortly.",
                       "请求未能完成（" + status + "），请稍后重试。")
      : inPageLanguage("The console could not be reached: check the connection and try again.",
                       "无法连接控制台，请检查网络后重试。");
    return p.outerHTML;
  }
  // Where a form's message goes: beside a workbench form, else the target.
  function slotOf(elt) {
    var form = elt && elt.closest ? elt.closest("form.act") : null;
    return form ? form.querySelector(".outcome") : null;
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (status < 400) { return; }
    e.detail.shouldSwap = true;
    e.detail.isError = false;
    var type = xhr.getResponseHeader("Content-Type") || "";
    var body = String(e.detail.serverResponse || "");
    if (type.indexOf("text/html") !== 0 || /<html[\s>]/i.test(body) || !body.trim()) {
      e.detail.serverResponse = failureSaid(status);
    }
    // A refusal that redraws what it concerns (a filing's row, the filing as
    // it now is) goes where the server says.
    if (xhr.getResponseHeader("HX-Retarget")) { return; }
    // The event's elt is the swap's target (the form's cell): the form is
    // the element that made the request.
    var cfg = e.detail.requestConfig;
    var elt = cfg && cfg.elt ? cfg.elt : e.detail.elt;
    var slot = slotOf(elt);
    if (slot) {
      e.detail.target = slot;
      // A refusal's form is sent again corrected: a new Idempotency-Key. A
      // failure's keeps its key, so sending it again cannot act twice.
      var idem = status < 500 ? slot.parentNode.querySelector("input[name=idem]") : null;
      if (idem) { idem.value = newKey(); }
    }
  });
  // No answer at all (the console unreachable): said where the answer would go.
  document.addEventListener("htmx:sendError", function (e) {
    var elt = e.detail.requestConfig && e.detail.requestConfig.elt ? e.detail.requestConfig.elt : e.detail.elt;
    var where = slotOf(elt) || e.detail.target;
    if (where) { where.innerHTML = failureSaid(0); }
  });
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t && t.closest && t.closest("[data-print]")) { window.print(); }
  });

  var chartLoading = null;
  function loadChartJs() {
    if (window.Chart) { return Promise.resolve(); }
    if (!chartLoading) {
      chartLoading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = "/console/static/vendor/chart.js/chart.umd.min.js";
        s.onload = resolve; s.onerror = reject;
        document.head.appendChild(s);
      });
    }
    return chartLoading;
  }
  // A palette distinguishable in colour and (for print) in dash pattern.
  var COLOURS = ["#0d3b66", "#c0392b", "#1e8449", "#8e44ad", "#d35400", "#2471a3", "#7d6608", "#117864",
                 "#922b21", "#5b2c6f", "#1b4f72", "#6e2c00", "#196f3d", "#4d5656", "#b03a2e", "#283747"];
  function drawTrend(root) {
    var el = (root || document).querySelector("#trend-data");
    var canvas = (root || document).querySelector("#trend-chart");
    if (!el || !canvas) { return; }
    var data = JSON.parse(el.textContent);
    var narrow = canvas.parentElement.clientWidth < 600;
    loadChartJs().then(function () {
      new window.Chart(canvas, {
        type: "line",
        data: {
          labels: data.labels,
          datasets: data.series.map(function (s, i) {
            return { label: s.name, data: s.values, borderColor: COLOURS[i % COLOURS.length],
                     backgroundColor: COLOURS[i % COLOURS.length], borderDash: i >= 8 ? [6, 3] : [],
                     tension: 0.15, pointRadius: 2 };
          })
        },
        options: {
          animation: false, responsive: true,
          // On a phone the 16 districts' legend would take the whole height
          // of a wide chart and leave no plot: a taller chart there, with a
          // smaller legend.
          aspectRatio: narrow ? 0.6 : 2.5,
          plugins: { legend: { position: "bottom",
                               labels: narrow ? { boxWidth: 12, font: { size: 11 } } : {} } },
          scales: { y: { beginAtZero: true, title: { display: true, text: data.unit } } }
        }
      });
      canvas.setAttribute("data-drawn", "true");
    });
  }
  // A request made from a focused control can take the focus away: its
  // form replaced by the answer (a workbench action done, a row redrawn
  // after a stale action) or its button disabled while it ran (the fit
  // form). Focus then fell to the page itself and a keyboard user's next
  // Tab started again from the header. It goes back to the control when it
  // is still there, else to the answer that replaced it. A request the user
  // did not make from the focus (the trend's load) moves nothing.
  var focusBefore = new WeakMap();
  document.addEventListener("htmx:beforeRequest", function (e) {
    var a = document.activeElement;
    var elt = e.detail.elt;
    if (e.detail.xhr && a && a !== document.body && elt && elt.contains(a)) {
      focusBefore.set(e.detail.xhr, a);
    }
  });
  function answerIn(target, xhr) {
    // A row redrawn whole (HX-Reswap: outerHTML) leaves the target out of
    // the page: its replacement is found by the server's selector.
    if (target && !document.contains(target)) {
      var retarget = xhr ? xhr.getResponseHeader("HX-Retarget") : null;
      target = retarget ? document.querySelector(retarget) : null;
    }
    return target ? target.querySelector(".result, .problem, .summary") : null;
  }
  document.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail.xhr;
    var was = xhr ? focusBefore.get(xhr) : null;
    if (!was) { return; }
    focusBefore.delete(xhr);
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) { return; }
    if (document.contains(was) && !was.disabled) { was.focus(); return; }
    var said = answerIn(e.detail.target, xhr);
    if (said) {
      said.setAttribute("tabindex", "-1");
      said.focus();
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawTrend(e.detail.target); });
  document.addEventListener("DOMContentLoaded", function () { drawTrend(document); });
})();
