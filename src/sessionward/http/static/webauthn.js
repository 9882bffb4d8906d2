/* sessionward: security keys (WebAuthn) on the account pages -- the pages' only script, served from 'self'.

   A form marked data-webauthn="create" (add a key) or "get" (use a key) stays hidden until this script runs;
   without script the pages offer codes. On submit, the script:
   1. posts the form itself to its data-options URL (a page endpoint: same origin, the form's own CSRF token or
      mfa_token, checked like any page post) and reads {"publicKey": options}, binary fields in base64url;
   2. asks the browser for the credential (navigator.credentials.create or .get);
   3. puts the answer, as JSON with base64url fields, into the form's "credential" field and submits the form:
      the server verifies it and answers with a page.
   Whatever fails is submitted as a short code in "webauthn_error" instead (a DOMException name, or the options
   endpoint's error); the server words the message. No markup is written, no token kept, nothing evaluated. */
"use strict";

(function () {
  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
  }

  function decoded(kind, options) {
    var publicKey = Object.assign({}, options, { challenge: toBuffer(options.challenge) });
    if (kind === "create") {
      publicKey.user = Object.assign({}, options.user, { id: toBuffer(options.user.id) });
      publicKey.excludeCredentials = withIds(options.excludeCredentials);
    } else {
      publicKey.allowCredentials = withIds(options.allowCredentials);
    }
    return publicKey;
  }

  function encoded(credential) {
    var answer = credential.response;
    var response = { clientDataJSON: toText(answer.clientDataJSON) };
    if (answer.attestationObject) {
      response.attestationObject = toText(answer.attestationObject);
      response.transports = answer.getTransports ? answer.getTransports() : [];
    } else {
      response.authenticatorData = toText(answer.authenticatorData);
      response.signature = toText(answer.signature);
      response.userHandle = toText(answer.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    });
  }

  async function options(form) {
    var answer = await fetch(form.dataset.options, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    var body = null;
    try {
      body = await answer.json();
    } catch (ignored) {
      body = null;
    }
    if (!answer.ok || !body || !body.publicKey) {
      throw { name: body && typeof body.error === "string" ? body.error : "options" };
    }
    return body.publicKey;
  }

  async function ceremony(form) {
    var kind = form.dataset.webauthn;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      throw { name: "unsupported" };
    }
    var publicKey = decoded(kind, await options(form));
    if (kind === "create") {
      return navigator.credentials.create({ publicKey: publicKey });
    }
    return navigator.credentials.get({ publicKey: publicKey });
  }

  function start(form, event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button.disabled) {
      return;
    }
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    ceremony(form).then(
      function (credential) {
        form.elements.credential.value = credential ? encoded(credential) : "";
        form.elements.webauthn_error.value = credential ? "" : "NotAllowedError";
        form.submit();
      },
      function (error) {
        form.elements.credential.value = "";
        form.elements.webauthn_error.value = String((error && error.name) || "failed").slice(0, 32);
        form.submit();
      },
    );
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      start(form, event);
    });
  });
})();
