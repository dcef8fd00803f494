// ATUM Ops Console: progressive enhancement only. Every page works without
// this script; with it, forms marked data-confirm ask before submitting,
// and a form kept across a step-up fills the page's own form again.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // After a step-up the page offers the kept form as a panel of hidden
  // fields; fill the page's own form for the same action with them, so the
  // operator sees and sends the form they typed.
  function refillKeptForm() {
    var kept = document.querySelector('form[data-testid="kept-form-form"]');
    if (!kept) {
      return;
    }
    var action = kept.getAttribute("action");
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      if (form === kept || form.getAttribute("action") !== action) {
        continue;
      }
      var values = kept.querySelectorAll('input[type="hidden"]');
      for (var j = 0; j < values.length; j++) {
        var field = form.elements.namedItem(values[j].name);
        if (field && "value" in field) {
          field.value = values[j].value;
        }
      }
      form.classList.add("refilled");
      form.scrollIntoView({ block: "center" });
      return;
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refillKeptForm);
  } else {
    refillKeptForm();
  }
})();
