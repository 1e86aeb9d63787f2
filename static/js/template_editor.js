// Notification template editor: the placeholder buttons insert their text where the
// cursor was in the subject or body (the body when neither had the focus yet), then
// tell htmx (event "placeholder-inserted") so the preview follows.
(() => {
  let target = null;
  for (const id of ["subject", "body"]) {
    const el = document.getElementById(id);
    if (el) el.addEventListener("focus", () => { target = el; });
  }
  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.insert");
    if (!button) return;
    const el = target || document.getElementById("body");
    const text = button.dataset.insert;
    const start = el.selectionStart ?? el.value.length;
    const end = el.selectionEnd ?? el.value.length;
    el.value = el.value.slice(0, start) + text + el.value.slice(end);
    el.focus();
    el.selectionStart = el.selectionEnd = start + text.length;
    document.body.dispatchEvent(new CustomEvent("placeholder-inserted", { bubbles: true }));
  });
})();
