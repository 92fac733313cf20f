// evals report: the sample browser. Plain JS, no libraries; every text from the runs is
// written with textContent, never parsed as markup.
(function () {
  "use strict";
  var PAGE = 100;
  var source = document.getElementById("sample-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var state = { filter: "all", benchmark: "", checkpoint: "", shown: PAGE };
  var body = document.getElementById("sample-rows");
  var count = document.getElementById("sample-count");
  var more = document.getElementById("sample-more");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function fillSelect(id, names) {
    var select = document.getElementById(id);
    names.forEach(function (name, i) {
      var option = el("option", name);
      option.value = String(i);
      select.appendChild(option);
    });
    select.addEventListener("change", function () {
      state[id === "sample-benchmark" ? "benchmark" : "checkpoint"] = select.value;
      state.shown = PAGE;
      render();
    });
  }

  function keep(row) {
    if (state.filter === "failures" && !row.f) { return false; }
    if (state.filter === "parse" && !row.pf) { return false; }
    if (state.benchmark !== "" && row.b !== Number(state.benchmark)) { return false; }
    if (state.checkpoint !== "" && row.c !== Number(state.checkpoint)) { return false; }
    return true;
  }

  function status(row) {
    var flags = [];
    if (row.pf) { flags.push("extraction failed"); }
    else if (row.u) { flags.push("unscored (verdict unreadable)"); }
    else if (row.f) { flags.push("wrong"); }
    else { flags.push("ok"); }
    if (row.d) { flags.push(row.d); }
    return flags.join(" · ");
  }

  function texts(row) {
    var details = el("details");
    details.appendChild(el("summary", "prompt (" + data.prompts[row.p].length + " turn" +
      (data.prompts[row.p].length === 1 ? "" : "s") + ") and output"));
    data.prompts[row.p].forEach(function (turn) {
      details.appendChild(el("div", turn[0], "role"));
      details.appendChild(el("pre", turn[1]));
    });
    row.o.forEach(function (output, i) {
      details.appendChild(el("div", row.o.length > 1 ? "output " + (i + 1) : "output", "role"));
      details.appendChild(el("pre", output));
    });
    return details;
  }

  function line(row) {
    var tr = el("tr", null, "sample" + (row.f ? " failed" : "") + (row.pf ? " parse" : ""));
    tr.appendChild(el("td", data.checkpoints[row.c]));
    tr.appendChild(el("td", data.columns[row.b]));
    tr.appendChild(el("td", row.id));
    tr.appendChild(el("td", row.s, "score"));
    tr.appendChild(el("td", row.x === null ? "—" : row.x));
    tr.appendChild(el("td", row.t, "text"));
    tr.appendChild(el("td", status(row), "status"));
    var cell = el("td", null, "text");
    cell.appendChild(texts(row));
    tr.appendChild(cell);
    return tr;
  }

  function render() {
    var rows = data.rows.filter(keep);
    body.replaceChildren();
    rows.slice(0, state.shown).forEach(function (row) { body.appendChild(line(row)); });
    count.textContent = Math.min(rows.length, state.shown) + " of " + rows.length +
      " matching samples shown";
    more.hidden = rows.length <= state.shown;
  }

  document.querySelectorAll(".filters button").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll(".filters button").forEach(function (b) {
        b.classList.toggle("active", b === button);
      });
      state.filter = button.getAttribute("data-filter");
      state.shown = PAGE;
      render();
    });
  });
  more.addEventListener("click", function () { state.shown += PAGE; render(); });
  fillSelect("sample-benchmark", data.columns);
  fillSelect("sample-checkpoint", data.checkpoints);
  render();
})();
