/* reportgen report script, inlined into report.html: interactive charts (plotly.js, inlined
   above it) in place of the static ones, and sortable, filterable tables. Without it the
   report shows the static charts and every row (one tap away). No network, no globals. */
(function () {
  "use strict";

  function drawCharts() {
    if (!window.Plotly) { return; }
    // The static charts give way to the interactive ones (report.css: html.js).
    document.documentElement.classList.add("js");
    // On phones a drag should scroll the page, not zoom a chart, and the mode bar would sit
    // on the chart's top edge: no mode bar there (a tap still shows the values).
    var narrow = window.matchMedia && window.matchMedia("(max-width: 640px)").matches;
    var config = {
      responsive: true,
      displaylogo: false,
      displayModeBar: narrow ? false : "hover",
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
      toImageButtonOptions: {format: "png", scale: 2}
    };
    var nodes = document.querySelectorAll("script.chart-data");
    for (var i = 0; i < nodes.length; i++) {
      var target = document.getElementById(nodes[i].getAttribute("data-target"));
      if (!target) { continue; }
      var fig = JSON.parse(nodes[i].textContent);
      if (narrow) { fig.layout.dragmode = false; }
      Plotly.newPlot(target, fig.data, fig.layout, config);
    }
  }

  // The number a cell shows ("₹1,20,000", "4.50x", "−3.2%"), or null for text and n/a.
  function numberOf(cell, decimal) {
    var text = cell.textContent.replace(/\u2212/g, "-").split(decimal);
    var whole = text[0].replace(/[^0-9-]/g, "");
    var part = text.length > 1 ? text[1].replace(/[^0-9].*$/, "") : "";
    if (!/[0-9]/.test(whole)) { return null; }
    var value = parseFloat(whole + (part ? "." + part : ""));
    return isNaN(value) ? null : value;
  }

  function textOf(cell) {
    var name = cell.querySelector(".name");
    return (name || cell).textContent.trim();
  }

  function Table(table) {
    this.table = table;
    this.body = table.tBodies[0];
    this.rows = Array.prototype.slice.call(this.body.rows).filter(function (row) {
      return !row.querySelector(".empty");
    });
    this.top = parseInt(table.getAttribute("data-top") || "0", 10);
    this.decimal = table.getAttribute("data-decimal") || ".";
    this.query = "";
    this.count = null;
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    for (var c = 0; c < heads.length; c++) { this.addSortButton(heads[c], c); }
  }

  Table.prototype.addSortButton = function (th, column) {
    var self = this;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    while (th.firstChild) { button.appendChild(th.firstChild); }
    var mark = document.createElement("span");
    mark.className = "sort-mark";
    mark.setAttribute("aria-hidden", "true");
    button.appendChild(mark);
    th.appendChild(button);
    button.addEventListener("click", function () { self.sortBy(th, column); });
  };

  // Numbers sort largest first on the first click, names A to Z; n/a always last.
  Table.prototype.sortBy = function (th, column) {
    var numeric = th.classList.contains("num");
    var current = th.getAttribute("aria-sort");
    var descending = current ? current === "ascending" : numeric;
    var heads = th.parentNode.cells;
    for (var h = 0; h < heads.length; h++) { heads[h].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var decimal = this.decimal;
    var keyed = this.rows.map(function (row, index) {
      var cell = row.cells[column];
      return {row: row, index: index, num: numeric ? numberOf(cell, decimal) : null, text: textOf(cell)};
    });
    keyed.sort(function (a, b) {
      var order = 0;
      if (numeric) {
        if (a.num === null || b.num === null) {
          return (a.num === null) - (b.num === null) || a.index - b.index;
        }
        order = a.num - b.num;
      } else {
        order = a.text.localeCompare(b.text, undefined, {numeric: true, sensitivity: "base"});
      }
      return (descending ? -order : order) || a.index - b.index;
    });
    this.rows = keyed.map(function (k) { return k.row; });
    for (var i = 0; i < this.rows.length; i++) { this.body.appendChild(this.rows[i]); }
    this.refold();
  };

  // The rows past the top ones fold away again in the new order; a filter shows every match.
  Table.prototype.refold = function () {
    var shown = 0;
    for (var i = 0; i < this.rows.length; i++) {
      var row = this.rows[i];
      var match = !this.query || textOf(row.cells[0]).toLowerCase().indexOf(this.query) >= 0;
      row.hidden = !match;
      row.classList.toggle("more", !this.query && this.top > 0 && i >= this.top);
      shown += match ? 1 : 0;
    }
    if (this.count) {
      this.count.textContent = this.query ? shown + " of " + this.rows.length + " shown" : "";
    }
  };

  Table.prototype.filterWith = function (input, count) {
    var self = this;
    this.count = count;
    input.addEventListener("input", function () {
      self.query = input.value.trim().toLowerCase();
      self.refold();
    });
  };

  function setUpTables() {
    var tables = document.querySelectorAll("table.data[data-top]");
    for (var i = 0; i < tables.length; i++) {
      var table = new Table(tables[i]);
      var input = document.querySelector('input.table-filter[data-table="' + tables[i].id + '"]');
      if (!input) { continue; }
      var tools = input.closest(".table-tools");
      table.filterWith(input, tools.querySelector(".table-count"));
      tools.hidden = false;
    }
  }

  // Tables first: a chart that fails to draw must not leave them without their controls.
  setUpTables();
  drawCharts();
})();
