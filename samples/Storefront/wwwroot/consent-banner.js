/*
 * ShopAstro consent banner. No dependencies, ES2020, usable on any storefront.
 *
 *   <script src="/consent-banner.js" defer
 *           data-endpoint="/consent"                 POST {purposes, policyVersion, source:"banner"} here
 *           data-state-endpoint="/consent/state"     GET {policyVersion, purposes, choiceNeeded, decisions}; "" for none
 *           data-policy-version="3"                  without a state endpoint: the version shown
 *           data-purposes="analytics,recommendation" without a state endpoint: the toggles
 *           data-reload="true"></script>             reload after saving (else only the event)
 *
 * or set window.shopAstroConsentBanner = {endpoint, stateEndpoint, policyVersion, purposes, reload} before it
 * loads. After a saved choice it fires "shopastro:consent" on document ({detail: {purposes, policyVersion}}).
 * Any element with data-shopastro-consent-open reopens the banner. A browser sending Global Privacy Control
 * has advertising and affiliate sharing preselected off, and is told so.
 */
(() => {
  "use strict";

  const texts = {
    analytics: ["Analytics", "Statistics of how the store is browsed, to improve it. Partners see totals only."],
    recommendation: ["Recommendations", "Your browsing here picks the products we suggest to you."],
    advertising: ["Advertising", "Ads chosen for you, with our advertising partners."],
    affiliate_sharing: ["Sharing with affiliates", "Sharing your data with companies of our group."],
  };

  const script = document.currentScript;
  const data = script ? script.dataset : {};
  const given = window.shopAstroConsentBanner || {};
  const pick = (name, fallback) => (given[name] !== undefined ? given[name] : data[name] !== undefined ? data[name] : fallback);

  const config = {
    endpoint: pick("endpoint", "/consent"),
    stateEndpoint: pick("stateEndpoint", "/consent/state"),
    policyVersion: Number(pick("policyVersion", 0)) || null,
    purposes: toList(pick("purposes", "analytics,recommendation,advertising,affiliate_sharing")),
    reload: String(pick("reload", "true")) !== "false",
    nonce: script ? script.nonce : "",
  };
  const storageKey = "shopastro.consent";
  const gpc = navigator.globalPrivacyControl === true;
  const gpcPurposes = ["advertising", "affiliate_sharing"];

  let state = null;
  let banner = null;

  function toList(value) {
    const list = Array.isArray(value) ? value : String(value).split(",").map((p) => p.trim());
    return list.filter((p) => p in texts);
  }

  async function loadState() {
    if (config.stateEndpoint) {
      try {
        const response = await fetch(config.stateEndpoint, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.ok) {
          const body = await response.json();
          return {
            policyVersion: body.policyVersion,
            purposes: (body.purposes || []).filter((p) => p in texts),
            choiceNeeded: body.choiceNeeded === true,
            granted: (body.decisions || []).filter((d) => d.reason === "granted").map((d) => d.purpose),
          };
        }
      } catch {
        // The store cannot tell: ask nothing now rather than record a choice against an unknown policy.
      }
      return null;
    }

    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(storageKey) || "null");
    } catch {
      saved = null;
    }
    return {
      policyVersion: config.policyVersion,
      purposes: config.purposes,
      choiceNeeded: !saved || saved.policyVersion !== config.policyVersion,
      granted: saved && saved.purposes ? Object.keys(saved.purposes).filter((p) => saved.purposes[p] === true) : [],
    };
  }

  function addStyles() {
    if (document.getElementById("sa-consent-style")) {
      return;
    }
    const style = document.createElement("style");
    style.id = "sa-consent-style";
    if (config.nonce) {
      style.nonce = config.nonce;
    }
    style.textContent = `
.sa-consent{position:fixed;left:1rem;right:1rem;bottom:1rem;z-index:2147483000;max-width:44rem;margin:0 auto;
  background:#fff;color:#1d2433;border:1px solid #9aa3b5;border-radius:10px;box-shadow:0 8px 28px rgba(0,0,0,.2);
  padding:1rem 1.25rem;font:15px/1.45 system-ui,sans-serif;max-height:calc(100vh - 2rem);overflow:auto}
.sa-consent h2{font-size:1.1rem;margin:0 0 .25rem}
.sa-consent p{margin:.25rem 0 .5rem}
.sa-consent fieldset{border:0;margin:.25rem 0;padding:0;display:grid;gap:.4rem}
.sa-consent legend{font-weight:600;padding:0;margin-bottom:.25rem}
.sa-consent-purpose{display:grid;grid-template-columns:auto 1fr;column-gap:.6rem;align-items:start}
.sa-consent-purpose input{width:1.15rem;height:1.15rem;margin:.15rem 0 0;accent-color:#2456d3}
.sa-consent-purpose label{font-weight:600}
.sa-consent-purpose small{grid-column:2;color:#4a5368}
.sa-consent-gpc{background:#eef3ff;border-left:4px solid #2456d3;padding:.4rem .6rem}
.sa-consent-actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.75rem}
.sa-consent-actions button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:2px solid #2456d3;cursor:pointer;
  background:#2456d3;color:#fff}
.sa-consent-actions button[data-action="save"]{background:#fff;color:#2456d3}
.sa-consent button:focus-visible,.sa-consent input:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.sa-consent-error{color:#a4161a;font-weight:600}
@media (prefers-color-scheme:dark){.sa-consent{background:#1d2433;color:#f4f6fb;border-color:#4a5368}
  .sa-consent-purpose small{color:#c3c9d6}.sa-consent-gpc{background:#24304d}
  .sa-consent-actions button[data-action="save"]{background:#1d2433;color:#9db7ff;border-color:#9db7ff}}`;
    document.head.appendChild(style);
  }

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      node.setAttribute(name, value);
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function render(current, { focus }) {
    close();
    addStyles();
    banner = element("section", {
      class: "sa-consent",
      role: "region",
      "aria-labelledby": "sa-consent-title",
      "aria-describedby": "sa-consent-description",
      "data-testid": "consent-banner",
    });
    banner.append(
      element("h2", { id: "sa-consent-title", tabindex: "-1" }, "Your privacy choices"),
      element("p", { id: "sa-consent-description" },
        "We use your data for the purposes below only if you agree. The store itself and your cart work either way, " +
        "and you can change your mind at any time under \u201cPrivacy choices\u201d."));

    if (gpc) {
      banner.append(element("p", { class: "sa-consent-gpc", role: "note", "data-testid": "consent-gpc" },
        "Your browser sends Global Privacy Control, so advertising and sharing with affiliates are off, " +
        "also when you accept all. Switch them on below only if you want them."));
    }

    const fieldset = element("fieldset");
    fieldset.append(element("legend", null, "Purposes"));
    for (const purpose of current.purposes) {
      const id = `sa-consent-${purpose}`;
      const row = element("div", { class: "sa-consent-purpose" });
      const input = element("input", { type: "checkbox", role: "switch", id, name: purpose, "aria-describedby": `${id}-text` });
      // Nothing is on until chosen; a Global Privacy Control signal keeps its purposes off unless already granted.
      input.checked = current.granted.includes(purpose);
      row.append(input, element("label", { for: id }, texts[purpose][0]), element("small", { id: `${id}-text` }, texts[purpose][1]));
      fieldset.append(row);
    }
    banner.append(fieldset);

    const actions = element("div", { class: "sa-consent-actions" });
    actions.append(
      element("button", { type: "button", "data-action": "accept" }, "Accept all"),
      element("button", { type: "button", "data-action": "reject" }, "Reject"),
      element("button", { type: "button", "data-action": "save" }, "Save choices"));
    banner.append(actions, element("p", { class: "sa-consent-error", role: "alert", hidden: "" }));

    actions.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) {
        choose(button.dataset.action, current);
      }
    });
    document.body.appendChild(banner);
    if (focus) {
      banner.querySelector("h2").focus();
    }
  }

  function close() {
    if (banner) {
      banner.remove();
      banner = null;
    }
  }

  async function choose(action, current) {
    const purposes = {};
    for (const input of banner.querySelectorAll("input[type=checkbox]")) {
      const held = gpc && gpcPurposes.includes(input.name);
      if (action === "accept") {
        input.checked = input.checked || !held;
      } else if (action === "reject") {
        input.checked = false;
      }
      purposes[input.name] = input.checked;
    }

    const error = banner.querySelector(".sa-consent-error");
    error.hidden = true;
    if (!current.policyVersion || Object.keys(purposes).length === 0) {
      showError(error, "This store has not published its privacy policy yet, so no choice can be saved.");
      return;
    }

    const buttons = banner.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const response = await fetch(config.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ purposes, policyVersion: current.policyVersion, source: "banner" }),
      });
      if (!response.ok) {
        throw new Error(`status ${response.status}`);
      }
    } catch {
      buttons.forEach((b) => (b.disabled = false));
      showError(error, "Your choice could not be saved. Please try again.");
      return;
    }

    try {
      localStorage.setItem(storageKey, JSON.stringify({ policyVersion: current.policyVersion, purposes, at: new Date().toISOString() }));
    } catch {
      // Storage may be off; the store keeps the choice anyway.
    }
    document.dispatchEvent(new CustomEvent("shopastro:consent", { detail: { purposes, policyVersion: current.policyVersion } }));
    close();
    if (config.reload) {
      location.reload();
    }
  }

  function showError(node, message) {
    node.textContent = message;
    node.hidden = false;
  }

  async function open(options) {
    state = (await loadState()) || state;
    if (state && state.purposes.length > 0) {
      render(state, options);
    }
  }

  async function start() {
    state = await loadState();
    if (state && state.choiceNeeded && state.purposes.length > 0) {
      render(state, { focus: false });
    }
    document.addEventListener("click", (event) => {
      if (event.target.closest("[data-shopastro-consent-open]")) {
        open({ focus: true });
      }
    });
  }

  window.ShopAstroConsentBanner = { open: () => open({ focus: true }), close };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
})();
