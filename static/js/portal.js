// Small page helpers. Pages carry no inline script (the Content-Security-Policy allows
// script from the portal's own files only); they mark elements with data attributes and
// these delegated listeners give them their behaviour.

// Close open menus on an outside click.
document.addEventListener("click", (ev) => {
  document.querySelectorAll("details.menu[open]").forEach((d) => {
    if (!d.contains(ev.target)) d.open = false;
  });
});

document.addEventListener("click", (ev) => {
  const el = ev.target.closest ? ev.target : ev.target.parentElement;
  if (!el) return;
  // <input type="checkbox" data-select-all=".row-select">: tick or clear every box it names.
  const all = el.closest("[data-select-all]");
  if (all) {
    document.querySelectorAll(all.dataset.selectAll).forEach((c) => { c.checked = all.checked; });
  }
  // <a data-sort="-amount">: a column header; the list's hidden sort field follows it.
  const sort = el.closest("[data-sort]");
  if (sort) {
    const field = document.querySelector("[name=sort]");
    if (field) field.value = sort.dataset.sort;
  }
  // <button data-close-menu>: an item of a <details> menu closes the menu.
  const item = el.closest("[data-close-menu]");
  if (item && item.closest("details")) item.closest("details").open = false;
  // <button data-clear="#flow-pane">: empty that element (close a pane).
  const clear = el.closest("[data-clear]");
  if (clear) {
    const target = document.querySelector(clear.dataset.clear);
    if (target) target.innerHTML = "";
  }
  // <button data-open-dialog> followed by its <dialog>; <button data-close-dialog> inside it.
  const opener = el.closest("[data-open-dialog]");
  if (opener && opener.nextElementSibling && opener.nextElementSibling.showModal) opener.nextElementSibling.showModal();
  const closer = el.closest("[data-close-dialog]");
  if (closer && closer.closest("dialog")) closer.closest("dialog").close();
}, true);  // capture: runs before htmx's own click handlers (the sort field is read by them)

// <form data-confirm="Delete …?">: ask before submitting.
document.addEventListener("submit", (ev) => {
  const form = ev.target.closest && ev.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) {
    ev.preventDefault();
    ev.stopImmediatePropagation();
  }
}, true);

// <select data-compare-switch> in a condition row: the row shows a value box or a field list.
document.addEventListener("change", (ev) => {
  const sel = ev.target.closest && ev.target.closest("[data-compare-switch]");
  if (sel && sel.parentElement) sel.parentElement.dataset.compare = sel.value;
});

// <select data-change-after-swap>: after htmx fills it, announce a change (so a preview
// that listens for changes follows the new options).
document.addEventListener("htmx:afterSwap", (ev) => {
  const el = ev.target.closest && ev.target.closest("[data-change-after-swap]");
  if (el) el.dispatchEvent(new Event("change", { bubbles: true }));
});

// <button data-history-back>: the previous page (error pages' "Go back").
document.addEventListener("click", (ev) => {
  if (ev.target.closest && ev.target.closest("[data-history-back]")) window.history.back();
});

// An htmx request that failed (4xx/5xx, not swapped): its one-line answer (the server
// sends a fragment for htmx requests) replaces the previous one above the page; the next
// request clears it.
document.addEventListener("htmx:responseError", (ev) => {
  const box = document.getElementById("request-error");
  const xhr = ev.detail && ev.detail.xhr;
  if (!box || !xhr) return;
  const parsed = new DOMParser().parseFromString(xhr.responseText || "", "text/html");  // inert: nothing runs or loads
  const fragment = parsed.querySelector("[data-error-fragment]");
  box.replaceChildren(fragment || Object.assign(document.createElement("div"), {
    className: "flash error", textContent: `The request failed (${xhr.status}). Reload the page and try again.`,
  }));
  box.firstElementChild.setAttribute("role", "alert");
});
document.addEventListener("htmx:beforeRequest", () => {
  const box = document.getElementById("request-error");
  if (box) box.replaceChildren();
});

// <select data-insert-into="#field">: the workflow editor's value picker. The chosen
// placeholder (e.g. {{ record.name }}) goes into the field at its cursor; the picker
// goes back to its prompt.
document.addEventListener("change", (ev) => {
  const picker = ev.target.closest && ev.target.closest("select[data-insert-into]");
  if (!picker || !picker.value) return;
  const field = document.querySelector(picker.dataset.insertInto);
  if (field) {
    const at = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? at;
    field.value = field.value.slice(0, at) + picker.value + field.value.slice(end);
    field.focus();
    field.setSelectionRange(at + picker.value.length, at + picker.value.length);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }
  picker.value = "";
});

// The Run flow pane (#flow-pane) and keyboard users: when a pane arrives, focus goes to
// its first field (or its first button) and the opener is remembered; Escape inside the
// pane closes it and gives focus back to the opener (the Automate menu or a list's
// action), so the keyboard never loses its place.
let paneOpener = null;
document.addEventListener("htmx:beforeRequest", (ev) => {
  const target = ev.detail && ev.detail.target;
  if (target && target.id === "flow-pane" && !target.contains(ev.detail.elt)) {
    const menu = ev.detail.elt.closest("details");
    paneOpener = menu ? menu.querySelector("summary") : ev.detail.elt;
  }
});
document.addEventListener("htmx:afterSettle", (ev) => {
  const target = ev.detail && ev.detail.target;  // (the event itself fires on the element that made the request)
  if (!target || target.id !== "flow-pane") return;
  const pane = target.querySelector(".pane");
  if (!pane) return;
  const invalid = pane.querySelector("[aria-invalid=true]");
  const first = invalid || pane.querySelector("input:not([type=hidden]), select, textarea")
    || pane.querySelector("button.primary") || pane.querySelector("button");
  if (first) first.focus();
});
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "Escape") return;
  const pane = document.getElementById("flow-pane");
  if (!pane || !pane.firstElementChild) return;
  const inPane = ev.target.closest && ev.target.closest("#flow-pane");
  // (outside the pane, Escape belongs to an open menu or dialog first)
  if (!inPane && ev.target.closest && ev.target.closest("details[open], dialog[open], [aria-expanded=true]")) return;
  pane.innerHTML = "";
  if (paneOpener && document.contains(paneOpener)) paneOpener.focus();
});
document.addEventListener("click", (ev) => {
  const closer = ev.target.closest && ev.target.closest('[data-clear="#flow-pane"]');
  if (closer && paneOpener && document.contains(paneOpener)) setTimeout(() => paneOpener.focus(), 0);
});
// ---- action bar, live lists and banners (issue 13) ----
// A list page has one banner region (#list-banner): ticking another row removes an error
// banner there, and opening a Run flow pane removes the banner (one result at a time).
document.addEventListener("change", (ev) => {
  if (ev.target.closest && ev.target.closest(".row-select, [data-select-all]")) {
    document.querySelectorAll("#list-banner .flash.error").forEach((el) => el.remove());
  }
});
// A list's rows refreshed while the user ticks (a poll sent before the tick, answered
// after it) keep the ticks as they are on the page when the answer arrives: the server
// only knows the ticks the request carried.
let ticksBeforeSwap = null;
document.addEventListener("htmx:beforeSwap", (ev) => {
  const target = ev.detail && ev.detail.target;
  ticksBeforeSwap = target && target.id === "list-results"
    ? new Set([...target.querySelectorAll(".row-select:checked")].map((box) => box.value)) : null;
});
document.addEventListener("htmx:afterSwap", () => {
  const ticks = ticksBeforeSwap, list = document.getElementById("list-results");
  ticksBeforeSwap = null;
  if (!ticks || !list) return;
  list.querySelectorAll(".row-select").forEach((box) => { box.checked = ticks.has(box.value); });
});
document.addEventListener("htmx:beforeRequest", (ev) => {
  const target = ev.detail && ev.detail.target;
  const banner = document.getElementById("list-banner");
  if (banner && target && target.id === "flow-pane") banner.replaceChildren();
});

// ---- layout: focus after htmx swaps (issue 13) ----
// When a swap replaced the element that had focus (a line's Add or Save button, an Edit
// link), focus would fall back to the page: it goes instead to the first field of the first
// [data-focus-after-swap] element of the swapped content (a document's line being edited,
// else the new line), or to the field with an error there; else to the element with the
// same id as before.
// Swaps that didn't take the focus away (a poll, a fact box loading) change nothing.
let focusLost = null;
document.addEventListener("htmx:beforeSwap", (ev) => {
  const a = document.activeElement, target = ev.detail.target, config = ev.detail.requestConfig || {};
  const trigger = config.triggeringEvent && config.triggeringEvent.type;
  // (browsers that don't focus a clicked button: the clicked element or submitted form counts)
  const clicked = (trigger === "click" || trigger === "submit") && config.elt && target && target.contains(config.elt);
  const focused = a && a !== document.body && target && target.contains(a);
  focusLost = focused || clicked ? {id: (focused && a.id) || null, target: target.id || null} : null;
});
document.addEventListener("htmx:afterSettle", () => {
  const lost = focusLost, a = document.activeElement;
  focusLost = null;
  if (!lost || (a && a !== document.body && document.contains(a))) return;  // focus was kept
  const fields = "input:not([type=hidden]), select, textarea";
  const swapped = lost.target && document.getElementById(lost.target);
  const area = swapped && swapped.querySelector("[data-focus-after-swap]");
  let next = null;
  if (area) {
    const error = area.querySelector(".field-error");
    next = (error && error.parentElement.querySelector(fields)) || area.querySelector(fields);
  }
  if (!next && lost.id) next = document.getElementById(lost.id);
  if (next && next.focus) next.focus();
});

// ---- layout: a menu opened near the window's right edge moves left to stay on screen ----
document.addEventListener("toggle", (ev) => {
  const d = ev.target;
  if (!(d instanceof HTMLDetailsElement) || !d.classList.contains("menu")) return;
  const items = d.querySelector(":scope > .menu-items");
  if (!items) return;
  items.style.left = "";
  if (!d.open) return;
  const r = items.getBoundingClientRect(), room = document.documentElement.clientWidth - 8;
  if (r.right > room) items.style.left = `${-Math.min(r.right - room, Math.max(r.left - 8, 0))}px`;
}, true);

// ---- layout: a table box that scrolls sideways (a narrow window) can be scrolled from the
// keyboard: it takes focus (tabindex 0) while it scrolls ----
const SCROLL_BOXES = ".table-scroll, .table-wrap, .lines-scroll, #list-results";
function focusableScrollBoxes() {
  document.querySelectorAll(SCROLL_BOXES).forEach((box) => {
    if (box.scrollWidth > box.clientWidth + 1) {
      if (!box.hasAttribute("tabindex")) { box.setAttribute("tabindex", "0"); box.dataset.scrollFocus = "1"; }
    } else if (box.dataset.scrollFocus) {
      box.removeAttribute("tabindex"); delete box.dataset.scrollFocus;
    }
  });
}
document.addEventListener("DOMContentLoaded", focusableScrollBoxes);
document.addEventListener("htmx:afterSettle", focusableScrollBoxes);
window.addEventListener("resize", focusableScrollBoxes);

// ---- layout: htmx doesn't copy style attributes when it settles a swap (setAttribute("style")
// is refused by the policy, style-src 'self'; styles set from script stay where they are) ----
if (window.htmx) htmx.config.attributesToSettle = htmx.config.attributesToSettle.filter((a) => a !== "style");

// <dialog data-reopen>: a dialog whose form was refused comes back open, with what the
// user typed and the messages (the workflow editor's event and response dialogs).
function reopenDialogs(root) {
  (root || document).querySelectorAll("dialog[data-reopen]").forEach((d) => { if (!d.open && d.showModal) d.showModal(); });
}
document.addEventListener("htmx:afterSettle", () => reopenDialogs(document));  // (an outerHTML swap leaves the old target detached)
document.addEventListener("DOMContentLoaded", () => reopenDialogs(document));

// A record page follows the worker by swapping its state, action bar and fact boxes
// (polling, or after an action elsewhere): keyboard focus, a typed approval comment and
// an open Automate menu in the bar survive the swap.
let kept = null;
document.addEventListener("htmx:beforeSwap", () => {
  const bar = document.getElementById("action-bar");
  if (!bar) return;
  const active = document.activeElement;
  const inBar = active && bar.contains(active) ? active : null;
  kept = {
    action: inBar && inBar.dataset ? inBar.dataset.action || null : null,
    name: inBar ? inBar.getAttribute("name") : null,
    comment: (bar.querySelector("input[name=comment]") || {}).value || "",
    menuOpen: !!bar.querySelector("details.menu[open]"),
    inMenu: inBar ? !!inBar.closest("details.menu") : false,
  };
});
document.addEventListener("htmx:afterSettle", () => {
  const bar = document.getElementById("action-bar");
  if (!bar || !kept) return;
  const state = kept;
  kept = null;
  const comment = bar.querySelector("input[name=comment]");
  if (comment && state.comment && !comment.value) comment.value = state.comment;
  const menu = bar.querySelector("details.menu");
  if (menu && state.menuOpen) menu.open = true;
  if (document.activeElement && bar.contains(document.activeElement)) return;  // (still focused: nothing to do)
  let target = null;
  if (state.action) target = bar.querySelector(`[data-action="${CSS.escape(state.action)}"]:not([disabled])`);
  else if (state.name) target = bar.querySelector(`[name="${CSS.escape(state.name)}"]`);
  else if (state.inMenu && menu) target = menu.querySelector("summary");
  if (target) target.focus();
});
