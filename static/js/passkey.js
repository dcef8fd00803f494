// ATUM Ops Console: passkeys (WebAuthn). Loaded only by the pages that
// offer them. A button or form marked data-passkey runs one ceremony: it
// posts to data-begin for the options, asks the browser for a passkey,
// posts the answer as JSON to data-finish and follows the address the
// console answers with. Errors show in the box's [data-passkey-status].
// Every page works without this script with a code instead.
//
//   data-passkey="register"  a form (name field): adds a passkey
//   data-passkey="login"     a button: the sign-in's second factor
//   data-passkey="step-up"   a button in the step-up form: its password
//                            and the kept form's id go with the begin
(function () {
  "use strict";

  // toBuffer decodes base64url (with or without padding).
  function toBuffer(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = window.atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  // toBase64url encodes an ArrayBuffer as unpadded base64url.
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return window.btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIDs(list) {
    (list || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
  }

  // creationOptions turns the console's JSON into create() options.
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    decodeIDs(pk.excludeCredentials);
    return { publicKey: pk };
  }

  // requestOptions turns the console's JSON into get() options.
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    decodeIDs(pk.allowCredentials);
    return { publicKey: pk };
  }

  // credentialJSON is a PublicKeyCredential as the console reads it.
  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return out;
  }

  // post sends body to url and resolves with the JSON answer; a refusal
  // rejects with an Error carrying the answer as data.
  function post(url, body, type) {
    var headers = { Accept: "application/json" };
    if (type) {
      headers["Content-Type"] = type;
    }
    return window.fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: body })
      .then(function (res) {
        return res.json().catch(function () {
          return {};
        }).then(function (data) {
          if (!res.ok) {
            var err = new Error(data.error || "The console refused that (" + res.status + "). Reload the page and try again.");
            err.data = data;
            throw err;
          }
          return data;
        });
      });
  }

  // explain words a browser's refusal for people.
  function explain(err) {
    switch (err && err.name) {
      case "NotAllowedError":
        return "No passkey was used: the prompt was closed or timed out.";
      case "InvalidStateError":
        return "This device already holds one of your passkeys.";
      case "SecurityError":
        return "This browser refuses passkeys on this address.";
      case "AbortError":
        return "The passkey prompt was cancelled.";
    }
    return (err && err.message) || "Something went wrong with the passkey.";
  }

  function withQuery(url, key, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + key + "=" + encodeURIComponent(value);
  }

  // run carries out the ceremony of el (a button, or the register form).
  function run(el, kind) {
    var form = el.tagName === "FORM" ? el : el.form;
    var box = el.closest("[data-passkey-box]") || el;
    var status = box.querySelector("[data-passkey-status]");
    var buttons = box.querySelectorAll("button");
    var show = function (msg) {
      if (status) {
        status.textContent = msg;
        status.hidden = !msg;
      }
    };
    var busy = function (on) {
      Array.prototype.forEach.call(buttons, function (b) {
        b.disabled = on;
      });
    };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show("This browser does not support passkeys.");
      return;
    }
    var begin = el.getAttribute("data-begin");
    var finish = el.getAttribute("data-finish");
    var beginBody = null;
    if (kind === "register") {
      var name = form.elements.namedItem("name").value.trim();
      if (!name) {
        show("Give the passkey a name.");
        return;
      }
      finish = withQuery(finish, "name", name);
    } else if (kind === "step-up") {
      if (!form.elements.namedItem("password").value) {
        show("Enter your password first.");
        return;
      }
      beginBody = new URLSearchParams(new FormData(form));
    }
    show("");
    busy(true);
    post(begin, beginBody)
      .then(function (options) {
        if (kind === "register") {
          return navigator.credentials.create(creationOptions(options));
        }
        return navigator.credentials.get(requestOptions(options));
      })
      .then(function (cred) {
        if (!cred) {
          throw new Error("No passkey was given.");
        }
        return post(finish, JSON.stringify(credentialJSON(cred)), "application/json");
      })
      .then(function (answer) {
        window.location.assign(answer.redirect || "/");
      })
      .catch(function (err) {
        busy(false);
        var data = err.data || {};
        if (data.stepUp && kind === "register") {
          form.submit(); // through the step-up, then back here
          return;
        }
        if (data.redirect) {
          window.location.assign(data.redirect);
          return;
        }
        show(explain(err));
      });
  }

  document.addEventListener("click", function (event) {
    var el = event.target instanceof Element ? event.target.closest("button[data-passkey]") : null;
    if (el) {
      event.preventDefault();
      run(el, el.getAttribute("data-passkey"));
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.getAttribute("data-passkey") === "register") {
      event.preventDefault();
      run(form, "register");
    }
  });
})();
