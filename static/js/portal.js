// Small page helpers. Close open Automate menus on outside click.
document.addEventListener("click", (ev) => {
  document.querySelectorAll("details.menu[open]").forEach((d) => {
    if (!d.contains(ev.target)) d.open = false;
  });
});
