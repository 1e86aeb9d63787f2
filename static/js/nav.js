// The header: area menus (disclosure buttons with aria-expanded), the phone's Menu
// button and the Tell me search box. No inline script: templates mark elements with
// data attributes (data-nav-menu, data-nav-toggle, data-tellme) and these listeners
// give them their behaviour.
//
// Keyboard: Enter / Space / ArrowDown on a menu button opens it (ArrowDown also moves to
// the first entry); ArrowUp / ArrowDown / Home / End move between entries; ArrowLeft /
// ArrowRight move to the neighbouring menu; Escape closes the menu and returns to its
// button; Tab out of a menu closes it. In Tell me, ArrowDown moves into the results and
// Escape clears them.
(() => {
  const menuOf = (el) => el && el.closest && el.closest("[data-nav-menu]");
  const buttonOf = (menu) => menu.querySelector(":scope > button[aria-expanded]");
  const entriesOf = (menu) => Array.from(menu.querySelectorAll(".nav-menu-items a, .nav-menu-items button"));
  const menus = () => Array.from(document.querySelectorAll("[data-nav-menu]"));

  function setOpen(menu, open) {
    const button = buttonOf(menu);
    if (button) button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  function closeAll(except) {
    menus().forEach((m) => { if (m !== except) setOpen(m, false); });
  }
  function isOpen(menu) {
    const button = buttonOf(menu);
    return !!button && button.getAttribute("aria-expanded") === "true";
  }

  document.addEventListener("click", (ev) => {
    const target = ev.target.closest ? ev.target : ev.target.parentElement;
    if (!target) return;
    const toggle = target.closest("[data-nav-toggle]");
    if (toggle) {
      toggle.setAttribute("aria-expanded", toggle.getAttribute("aria-expanded") === "true" ? "false" : "true");
      return;
    }
    const menu = menuOf(target);
    const button = menu && target.closest("button[aria-expanded]");
    if (button && button === buttonOf(menu)) {
      const open = !isOpen(menu);
      closeAll(menu);
      setOpen(menu, open);
      return;
    }
    closeAll(menu);  // a click elsewhere (or on an entry) closes the other menus
    const tellme = document.querySelector("[data-tellme]");
    if (tellme && !tellme.contains(target)) clearResults();
  });

  document.addEventListener("keydown", (ev) => {
    const menu = menuOf(ev.target);
    if (!menu) return;
    const button = buttonOf(menu);
    const entries = entriesOf(menu);
    const onButton = ev.target === button;
    const at = entries.indexOf(ev.target);
    const all = menus();
    const neighbour = (step) => buttonOf(all[(all.indexOf(menu) + step + all.length) % all.length]);
    switch (ev.key) {
      case "Escape":
        if (isOpen(menu)) { setOpen(menu, false); button.focus(); ev.preventDefault(); }
        break;
      case "ArrowDown":
        ev.preventDefault();
        if (onButton) { closeAll(menu); setOpen(menu, true); if (entries[0]) entries[0].focus(); }
        else if (at >= 0) entries[(at + 1) % entries.length].focus();
        break;
      case "ArrowUp":
        ev.preventDefault();
        if (onButton) { closeAll(menu); setOpen(menu, true); if (entries.length) entries[entries.length - 1].focus(); }
        else if (at >= 0) entries[(at - 1 + entries.length) % entries.length].focus();
        break;
      case "Home":
      case "End":
        if (at >= 0) { ev.preventDefault(); entries[ev.key === "Home" ? 0 : entries.length - 1].focus(); }
        break;
      case "ArrowRight":
      case "ArrowLeft": {
        const next = neighbour(ev.key === "ArrowRight" ? 1 : -1);
        if (next && next !== button) {
          ev.preventDefault();
          const wasOpen = isOpen(menu);
          setOpen(menu, false);
          if (wasOpen) setOpen(menuOf(next), true);
          next.focus();
        }
        break;
      }
      default:
    }
  });

  // Tab (or a click) out of a menu closes it.
  document.addEventListener("focusout", (ev) => {
    const menu = menuOf(ev.target);
    if (menu && ev.relatedTarget && !menu.contains(ev.relatedTarget)) setOpen(menu, false);
  });

  // ---------------------------------------------------------------- Tell me
  function clearResults() {
    const box = document.getElementById("tellme-results");
    if (box && box.firstChild) box.replaceChildren();
  }
  const resultLinks = () => Array.from(document.querySelectorAll("#tellme-results a"));

  document.addEventListener("keydown", (ev) => {
    const tellme = ev.target.closest && ev.target.closest("[data-tellme]");
    if (!tellme) return;
    const input = tellme.querySelector("input[type=search]");
    const links = resultLinks();
    const at = links.indexOf(ev.target);
    if (ev.key === "Escape") {
      clearResults();
      input.focus();
    } else if (ev.key === "ArrowDown" && links.length) {
      ev.preventDefault();
      links[at < 0 ? 0 : (at + 1) % links.length].focus();
    } else if (ev.key === "ArrowUp" && at >= 0) {
      ev.preventDefault();
      if (at === 0) input.focus(); else links[at - 1].focus();
    }
  });
  document.addEventListener("focusout", (ev) => {
    const tellme = ev.target.closest && ev.target.closest("[data-tellme]");
    if (tellme && ev.relatedTarget && !tellme.contains(ev.relatedTarget)) clearResults();
  });
  // An emptied box clears the results (htmx does not ask for an empty search).
  document.addEventListener("input", (ev) => {
    if (ev.target.id === "tellme-q" && !ev.target.value.trim()) clearResults();
  });
})();
