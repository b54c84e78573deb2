// waitline: a little plain JavaScript on server-rendered pages (no build step). Without it the pages still
// work as plain forms; with it, live parts update by themselves and the join form is safe to retry.
(function () {
  "use strict";

  const placeKey = (slug) => "waitline:place:" + slug;

  function storage(action, key, value) {
    // Private browsing may refuse storage: the pages work without it.
    try {
      if (action === "get") return JSON.parse(window.localStorage.getItem(key) || "null");
      if (action === "set") window.localStorage.setItem(key, JSON.stringify(value));
      if (action === "remove") window.localStorage.removeItem(key);
    } catch (error) {
      return null;
    }
    return null;
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context (https or localhost); getRandomValues does not.
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

  // --- live parts: <div data-live="/url"> gets its new HTML as Server-Sent Events ------------------------

  function swap(region, html) {
    const focused = document.activeElement;
    const focusedId = focused && region.contains(focused) ? focused.id : null;
    const kept = {};
    region.querySelectorAll("input[data-keep-value][id]").forEach((input) => { kept[input.id] = input.value; });
    region.innerHTML = html;
    Object.keys(kept).forEach((id) => {
      const input = document.getElementById(id);
      if (input) input.value = kept[id];
    });
    if (window.htmx) window.htmx.process(region);
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
    }
    region.dispatchEvent(new CustomEvent("waitline:updated", { bubbles: true }));
  }

  function live(region) {
    let delay = 1000;
    const connect = () => {
      const source = new EventSource(region.dataset.live);
      source.addEventListener("update", (event) => {
        delay = 1000;
        swap(region, event.data);
      });
      // The staff session ended, or what the page shows is gone: reloading shows the sign-in page or why.
      source.addEventListener("ended", () => {
        source.close();
        window.location.reload();
      });
      source.addEventListener("error", () => {
        // The browser retries by itself after a dropped connection, but gives up after an error status
        // (e.g. 503 when the server has too many live connections): then we retry, more and more slowly.
        if (source.readyState === EventSource.CLOSED) {
          window.setTimeout(connect, delay);
          delay = Math.min(delay * 2, 30000);
        }
      });
    };
    connect();
  }

  // --- the guest's status page ------------------------------------------------------------------------

  function statusPage(region) {
    let lastStatus = null;
    const update = () => {
      const ticket = region.querySelector("[data-status]");
      if (!ticket) return;
      const active = ticket.dataset.active === "true";
      const status = ticket.dataset.status;
      document.querySelectorAll("[data-if-active]").forEach((element) => { element.hidden = !active; });
      // The 'On my way' button (issue 9): offered while called and not yet confirmed.
      const waitingForYou = status === "called" && ticket.dataset.confirmed !== "true";
      document.querySelectorAll("[data-if-called]").forEach((element) => { element.hidden = !waitingForYou; });
      const key = placeKey(region.dataset.placeOf);
      if (active) {
        storage("set", key, { entry: ticket.dataset.entry, token: ticket.dataset.token, url: window.location.pathname });
      } else {
        const saved = storage("get", key);
        if (saved && saved.entry === ticket.dataset.entry) storage("remove", key);
      }
      if (status === "called" && lastStatus !== null && lastStatus !== "called" && navigator.vibrate) {
        navigator.vibrate([300, 150, 300]);
      }
      const title = document.title.replace(/^\(.*?\) /, "");
      document.title = status === "called" ? "(" + region.dataset.textYourTurn + ") " + title : title;
      lastStatus = status;
    };
    region.addEventListener("waitline:updated", update);
    update();
  }

  // --- the join page ----------------------------------------------------------------------------------

  function offerReturn(slug) {
    const saved = storage("get", placeKey(slug));
    const box = document.getElementById("return-to-place");
    if (!saved || !box) return;
    // Only while that place is still in the queue.
    fetch("/api/public/" + encodeURIComponent(slug) + "/queue/" + encodeURIComponent(saved.entry), {
      headers: { Accept: "application/json" },
    })
      .then((response) => (response.ok ? response.json() : null))
      .then((entry) => {
        if (entry && (entry.status === "waiting" || entry.status === "called")) {
          box.querySelector("[data-place-token]").textContent = "#" + entry.tokenNumber;
          box.querySelector("[data-place-link]").href = saved.url;
          box.hidden = false;
        } else if (entry || saved) {
          storage("remove", placeKey(slug));
        }
      })
      .catch(() => {});
  }

  function showErrors(form, message, errors) {
    const box = form.querySelector("#form-message");
    box.textContent = message || "";
    box.hidden = !message;
    form.querySelectorAll(".field-error").forEach((element) => {
      const field = element.id.replace(/-error$/, "");
      const text = (errors && errors[field]) || "";
      element.textContent = text;
      element.hidden = !text;
      const input = form.elements[field];
      if (input) {
        if (text) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      }
    });
    const firstInvalid = form.querySelector("[aria-invalid='true']");
    if (firstInvalid) firstInvalid.focus();
  }

  // One submission, sent again after a network failure or a 5xx with the SAME body and idempotency key,
  // so a retry can never make a second entry.
  async function submitJoin(url, body) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await fetch(url, {
          method: "POST",
          body: body,
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.status >= 500 && attempt < 3) {
          await sleep(800 * 2 ** attempt);
          continue;
        }
        const data = await response.json().catch(() => ({}));
        return { ok: response.ok, status: response.status, data: data };
      } catch (networkError) {
        if (attempt >= 3) return { ok: false, status: 0, data: {} };
        await sleep(800 * 2 ** attempt);
      }
    }
  }

  function joinPage(form) {
    const slug = form.dataset.slug;
    offerReturn(slug);
    form.elements.idempotency_key.value = newKey();
    const button = form.querySelector("#join-button");
    const fields = form.querySelectorAll("input:not([type=hidden]), select");
    const label = button.textContent;
    const text = form.dataset; // the page's words, in its language (data-text-*)
    let sending = false;
    let unresolved = null; // a body whose fate we do not know (the network failed): only it may be re-sent

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) return; // a double tap
      sending = true;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.textContent = text.textJoining;
      const body = unresolved || new URLSearchParams(new FormData(form));
      const outcome = await submitJoin(form.action, body);
      if (outcome.ok && outcome.data.location) {
        window.location.assign(outcome.data.location);
        return;
      }
      sending = false;
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (outcome.status === 0 || outcome.status >= 500) {
        unresolved = body;
        fields.forEach((field) => { field.setAttribute("readonly", ""); });
        button.textContent = text.textTryAgain;
        showErrors(
          form,
          outcome.status === 0
            ? text.textUnreachable
            : text.textBusy,
          {},
        );
        return;
      }
      unresolved = null;
      fields.forEach((field) => { field.removeAttribute("readonly"); });
      button.textContent = label;
      const errors = outcome.data.errors || {};
      let message = outcome.data.message;
      if (!message && Object.keys(errors).length === 0) {
        message = outcome.status === 403
          ? text.textExpired
          : text.textFailed;
      }
      showErrors(form, message, errors);
    });

    const region = document.getElementById("queue-live");
    const fieldset = document.getElementById("join-fields");
    if (region && fieldset) {
      region.addEventListener("waitline:updated", () => {
        const facts = region.querySelector("[data-open]");
        if (facts) fieldset.disabled = facts.dataset.open !== "true";
      });
    }
  }

  // The dashboard's hold countdowns (issue 9): each called party's time left, every second; the server
  // renders the same text, so without JavaScript it is right as of the last update.
  function holdCountdowns() {
    document.querySelectorAll("[data-hold-deadline]").forEach((element) => {
      const left = Math.round((Number(element.dataset.holdDeadline) - Date.now()) / 1000);
      if (left > 0) {
        const minutes = Math.floor(left / 60);
        const seconds = String(left % 60).padStart(2, "0");
        element.textContent = `hold: ${minutes}:${seconds} left`;
      } else {
        element.textContent = element.dataset.holdOver;
        element.classList.add("party-hold-over");
      }
    });
  }

  // Web push (issue 9): one tap registers the service worker (/sw.js), asks for permission, subscribes with
  // the server's VAPID key and sends the subscription; the worker then pushes even with this page closed.
  function base64UrlBytes(text) {
    const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
  }

  function pushOptIn(card) {
    const button = card.querySelector("#push-opt-in");
    const show = (selector) => {
      button.hidden = true;
      card.querySelector(selector).hidden = false;
    };
    button.addEventListener("click", async () => {
      try {
        if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error("unsupported");
        const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
        if ((await Notification.requestPermission()) !== "granted") throw new Error("denied");
        await navigator.serviceWorker.ready;
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: base64UrlBytes(card.dataset.pushKey),
        });
        const response = await fetch(card.dataset.pushUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": card.dataset.csrf },
          body: JSON.stringify(subscription.toJSON()),
        });
        if (!response.ok) throw new Error(`status ${response.status}`);
        show("[data-push-done]");
      } catch (error) {
        show("[data-push-failed]");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.querySelector("[data-hold-deadline]") || document.getElementById("dashboard-live")) {
      window.setInterval(holdCountdowns, 1000);
    }
    document.querySelectorAll("[data-live]").forEach(live);
    document.querySelectorAll("[data-place-of]").forEach(statusPage);
    document.querySelectorAll("form[data-join]").forEach(joinPage);
    document.querySelectorAll("[data-push-key]").forEach(pushOptIn);
    document.querySelectorAll("[data-print]").forEach((button) => {
      button.addEventListener("click", () => window.print());
    });
  });
})();
