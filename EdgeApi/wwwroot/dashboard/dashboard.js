// The seller dashboard: one store's policy, opt-in rates and live activity.
// Plain ES2020, no build step; the SignalR client is the vendored /lib/signalr/signalr.min.js, the history chart
// the vendored /lib/chartjs/chart.umd.min.js.
(function () {
  "use strict";

  const PURPOSES = ["analytics", "recommendation", "advertising", "affiliate_sharing"];
  const PURPOSE_LABELS = {
    analytics: "Analytics",
    recommendation: "Recommendations",
    advertising: "Advertising",
    affiliate_sharing: "Affiliate sharing",
  };
  const PURPOSE_COLORS = {
    analytics: "#3b5bdb",
    recommendation: "#1f9d55",
    advertising: "#d6453d",
    affiliate_sharing: "#b7791f",
  };
  const HISTORY_WINDOW_MS = 24 * 60 * 60 * 1000;
  // Snapshots are stored every few minutes: the chart re-reads them this long after a live stats change (once for
  // any number of changes meanwhile), and on the poll period anyway, which catches a snapshot stored later.
  const HISTORY_AFTER_CHANGE_MS = 5000;
  const HISTORY_POLL_MS = 60000;
  const FEED_LIMIT = 200;
  const TOKEN_KEY = "shopastro.dashboard.token";
  const HUB_URL = "/hubs/consent";
  // After withAutomaticReconnect gives up (about 45 s), keep trying: a seller leaves this page open.
  const RESTART_DELAYS_MS = [5000, 10000, 30000, 60000];

  const $ = (id) => document.getElementById(id);
  const el = {
    storeId: $("store-id"),
    connection: $("connection"),
    connectionLabel: $("connection-label"),
    resyncs: $("resyncs"),
    lastResync: $("last-resync"),
    signOut: $("sign-out"),
    tokenPanel: $("token-panel"),
    tokenForm: $("token-form"),
    tokenInput: $("token-input"),
    tokenError: $("token-error"),
    dashboard: $("dashboard"),
    banner: $("banner"),
    policyVersion: $("policy-version"),
    policyStatus: $("policy-status"),
    policyPublished: $("policy-published"),
    policyUpcoming: $("policy-upcoming"),
    totalChecks: $("total-checks"),
    totalGrants: $("total-grants"),
    totalWithdrawals: $("total-withdrawals"),
    statsAt: $("stats-at"),
    optinList: $("optin-list"),
    feed: $("feed"),
    feedEmpty: $("feed-empty"),
    feedCount: $("feed-count"),
    historyChart: $("history-chart"),
    historyCanvas: $("history-canvas"),
    historySummary: $("history-summary"),
  };

  const storeId = readStoreId();
  const state = {
    token: null,
    connection: null,
    lastSequence: null, // null until Subscribe answers or the first message arrives
    resyncs: 0,
    resyncRunning: null, // the running resync's promise
    resyncAgain: false,
    policy: null,
    statsAt: null, // the 'at' of the stats on screen: older snapshots are not applied
    subscribedOnce: false, // whether this page has had a subscription: later ones may have missed messages
    restartAttempt: 0,
    restartTimer: null,
    stopped: true,
    chart: null,
    historyTimer: null, // the poll
    historySoon: null, // the read scheduled after a live change
  };

  function readStoreId() {
    const parts = location.pathname.split("/").filter((part) => part.length > 0);
    const at = parts.indexOf("dashboard");
    const raw = at >= 0 ? parts[at + 1] : undefined;
    if (!raw) {
      return "";
    }
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }

  // #token=... is read once and removed from the address bar (and so from history and bookmarks).
  function readTokenFromFragment() {
    if (!location.hash || location.hash.length < 2) {
      return null;
    }
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    if (token === null) {
      return null;
    }
    params.delete("token");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return token.trim() || null;
  }

  function useToken(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    el.tokenPanel.hidden = true;
    el.tokenError.hidden = true;
    el.dashboard.hidden = false;
    el.signOut.hidden = false;
    start();
  }

  function askForToken(message) {
    state.token = null;
    el.dashboard.hidden = true;
    el.signOut.hidden = true;
    el.tokenPanel.hidden = false;
    el.tokenError.textContent = message;
    el.tokenError.hidden = !message;
    setConnection("disconnected", "Signed out");
    el.tokenInput.focus();
  }

  function authFailed(status) {
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    askForToken(status === 403
      ? `This token does not cover store ${storeId}.`
      : "This token was not accepted. Paste a valid seller token.");
  }

  // ---------- HTTP ----------

  class AuthError extends Error {
    constructor(status) {
      super(`HTTP ${status}`);
      this.status = status;
    }
  }

  async function getJson(path) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(response.status);
    }
    if (response.status === 404) {
      return null;
    }
    if (!response.ok) {
      throw new Error(`${path} answered ${response.status}`);
    }
    return response.json();
  }

  const storePath = () => `/v1/stores/${encodeURIComponent(storeId)}`;

  async function loadPolicy() {
    const policy = await getJson(`${storePath()}/policy`);
    renderPolicy(policy);
  }

  async function loadStats() {
    const stats = await getJson(`${storePath()}/stats`);
    if (stats) {
      renderStats(stats, true);
    }
  }

  async function loadHistory() {
    const to = new Date();
    const from = new Date(to.getTime() - HISTORY_WINDOW_MS);
    const history = await getJson(
      `${storePath()}/stats/history?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`);
    if (history) {
      renderHistory(history, from, to);
    }
  }

  function refreshHistory() {
    if (!state.stopped) {
      loadHistory().catch((error) => handleError(error, "Could not read the stats history"));
    }
  }

  // statsChanged arrives about once a second on a busy store: one re-read a few seconds after the first of them.
  function refreshHistorySoon() {
    if (state.historySoon === null) {
      state.historySoon = setTimeout(() => {
        state.historySoon = null;
        refreshHistory();
      }, HISTORY_AFTER_CHANGE_MS);
    }
  }

  async function loadAll() {
    const results = await Promise.allSettled([loadPolicy(), loadStats(), loadHistory()]);
    const failure = results.find((result) => result.status === "rejected");
    if (failure) {
      throw failure.reason;
    }
  }

  // One HTTP re-read at a time; a request for another during one runs once more after it.
  function resync(reason) {
    state.resyncs += 1;
    const now = new Date();
    el.resyncs.textContent = String(state.resyncs);
    el.lastResync.hidden = false;
    el.lastResync.textContent = `last ${formatTime(now)}`;
    el.lastResync.title = `Last re-read over HTTP at ${now.toISOString()} (${reason})`;
    el.connection.dataset.resyncs = String(state.resyncs);
    if (state.resyncRunning) {
      state.resyncAgain = true;
      return state.resyncRunning;
    }
    state.resyncRunning = (async () => {
      try {
        do {
          state.resyncAgain = false;
          await loadAll();
        } while (state.resyncAgain);
        hideBanner();
      } catch (error) {
        handleError(error, "Could not re-read the store's state");
      } finally {
        state.resyncRunning = null;
      }
    })();
    return state.resyncRunning;
  }

  function handleError(error, what) {
    if (error instanceof AuthError) {
      authFailed(error.status);
      return;
    }
    console.warn(what, error);
    showBanner(`${what}: ${error && error.message ? error.message : error}`);
  }

  // ---------- SignalR ----------

  async function start() {
    stop();
    state.stopped = false;
    state.lastSequence = null;
    state.subscribedOnce = false;
    state.restartAttempt = 0;
    setConnection("connecting", "Connecting…");
    state.historyTimer = setInterval(refreshHistory, HISTORY_POLL_MS);

    try {
      await loadAll();
    } catch (error) {
      handleError(error, "Could not load the store");
    }
    if (state.stopped) {
      return; // signed out (or the token was refused) while loading
    }

    const connection = new signalR.HubConnectionBuilder()
      .withUrl(HUB_URL, { accessTokenFactory: () => state.token })
      .withAutomaticReconnect()
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    state.connection = connection;

    connection.on("consentChanged", (message) => {
      if (accept(message)) {
        addConsentItem(message);
      }
    });
    connection.on("policyChanged", (message) => {
      if (accept(message)) {
        addPolicyItem(message);
        applyPolicyChange(message);
      }
    });
    // A version scheduled ahead (or withdrawn): the policy is read again for its list of upcoming versions.
    connection.on("policyScheduled", (message) => {
      if (accept(message)) {
        loadPolicy().catch(() => {});
      }
    });
    connection.on("statsChanged", (message) => {
      if (accept(message) && message.stats) {
        renderStats(message.stats, false);
        refreshHistorySoon();
      }
    });
    connection.on("requestOverdue", (message) => {
      if (accept(message)) {
        addOverdueItem(message);
      }
    });

    connection.onreconnecting(() => {
      if (state.connection === connection) {
        setConnection("reconnecting", "Reconnecting…");
      }
    });
    connection.onreconnected(async () => {
      if (state.connection !== connection) {
        return;
      }
      // A new connection id: the old subscription is gone and messages may have been missed.
      try {
        await subscribe(connection);
        setConnection("connected", "Connected");
        await resync("reconnected");
      } catch (error) {
        subscribeFailed(connection, error);
      }
    });
    connection.onclose(() => {
      if (state.connection === connection && !state.stopped) {
        setConnection("disconnected", "Disconnected");
        scheduleRestart(connection);
      }
    });

    await connectAndSubscribe(connection);
  }

  async function connectAndSubscribe(connection) {
    try {
      await connection.start();
    } catch (error) {
      if (state.connection !== connection) {
        return;
      }
      const status = statusOf(error);
      if (status === 401 || status === 403) {
        authFailed(status);
        return;
      }
      console.warn("Could not connect to the live feed", error);
      setConnection("disconnected", "Disconnected");
      scheduleRestart(connection);
      return;
    }

    try {
      const initial = !state.subscribedOnce;
      await subscribe(connection);
      state.subscribedOnce = true;
      state.restartAttempt = 0;
      hideBanner();
      setConnection("connected", "Connected");
      if (!initial) {
        // Restarted after the automatic reconnect gave up: messages may have been missed.
        await resync("restarted");
      } else {
        // The state loaded before subscribing may predate the subscription: read it once more.
        await loadAll().catch((error) => handleError(error, "Could not load the store"));
      }
    } catch (error) {
      subscribeFailed(connection, error);
    }
  }

  // The store's sequence as Subscribe answers it replaces what an earlier connection saw (every
  // (re)subscription is followed by an HTTP read); messages that overtake the answer still count.
  async function subscribe(connection) {
    state.lastSequence = null;
    const result = await connection.invoke("Subscribe", storeId);
    const sequence = result ? Number(result.sequence) : NaN;
    if (Number.isFinite(sequence) && (state.lastSequence === null || sequence > state.lastSequence)) {
      state.lastSequence = sequence;
    }
  }

  // The SignalR client reports a failed negotiation in the message only ("Status code '401'").
  function statusOf(error) {
    if (error && Number.isInteger(error.statusCode)) {
      return error.statusCode;
    }
    const match = /status code '(\d{3})'/i.exec(String(error && error.message ? error.message : error));
    return match ? Number(match[1]) : null;
  }

  function subscribeFailed(connection, error) {
    if (state.connection !== connection) {
      return;
    }
    console.warn("Subscribe failed", error);
    const text = String(error && error.message ? error.message : error);
    if (/forbid|not cover|unauthori[sz]ed|403|401/i.test(text)) {
      authFailed(403);
      return;
    }
    showBanner(`The live feed refused store ${storeId}: ${text}`);
    setConnection("disconnected", "Not subscribed");
    connection.stop();
  }

  function scheduleRestart(connection) {
    clearTimeout(state.restartTimer);
    const delay = RESTART_DELAYS_MS[Math.min(state.restartAttempt, RESTART_DELAYS_MS.length - 1)];
    state.restartAttempt += 1;
    state.restartTimer = setTimeout(() => {
      if (state.connection === connection && !state.stopped) {
        setConnection("connecting", "Connecting…");
        connectAndSubscribe(connection);
      }
    }, delay);
  }

  function stop() {
    state.stopped = true;
    clearTimeout(state.restartTimer);
    clearInterval(state.historyTimer);
    clearTimeout(state.historySoon);
    state.historyTimer = null;
    state.historySoon = null;
    const connection = state.connection;
    state.connection = null;
    if (connection) {
      connection.stop().catch(() => {});
    }
  }

  // Sequence bookkeeping: duplicates are dropped, a gap triggers an HTTP re-read.
  function accept(message) {
    if (!message || typeof message !== "object" || message.storeId !== storeId) {
      return false;
    }
    const sequence = Number(message.sequence);
    if (!Number.isFinite(sequence)) {
      return true;
    }
    const last = state.lastSequence;
    if (last !== null && sequence <= last) {
      return false;
    }
    state.lastSequence = sequence;
    if (last !== null && sequence > last + 1) {
      resync(`gap: sequence ${last} then ${sequence}`);
    }
    return true;
  }

  // ---------- rendering ----------

  function setConnection(kind, label) {
    el.connection.dataset.state = kind;
    el.connectionLabel.textContent = label;
  }

  function showBanner(text) {
    el.banner.textContent = text;
    el.banner.hidden = false;
  }

  function hideBanner() {
    el.banner.hidden = true;
  }

  function renderPolicy(policy) {
    state.policy = policy;
    if (!policy) {
      el.policyVersion.textContent = "—";
      el.policyStatus.textContent = "no policy published yet";
      el.policyStatus.dataset.status = "none";
      el.policyPublished.textContent = "";
      el.policyVersion.dataset.version = "";
    } else {
      el.policyVersion.textContent = String(policy.version);
      el.policyVersion.dataset.version = String(policy.version);
      el.policyStatus.textContent = policy.status || "unknown";
      el.policyStatus.dataset.status = policy.status || "unknown";
      const since = policy.effectiveAt || policy.publishedAt;
      el.policyPublished.textContent = since ? `since ${formatDateTime(since)}` : "";
    }
    const upcoming = (policy && policy.upcoming) || [];
    el.policyUpcoming.hidden = upcoming.length === 0;
    el.policyUpcoming.textContent = upcoming
      .map((next) => `next: v${next.version} (${next.status}) from ${formatDateTime(next.effectiveAt)}`)
      .join(" · ");
    renderPurposeSettings();
  }

  function applyPolicyChange(message) {
    const known = state.policy ? Number(state.policy.version) : 0;
    const version = Number(message.policyVersion);
    if (Number.isFinite(version) && version >= known) {
      el.policyVersion.textContent = String(version);
      el.policyVersion.dataset.version = String(version);
      if (message.status) {
        el.policyStatus.textContent = message.status;
        el.policyStatus.dataset.status = message.status;
      }
    }
    // The message names the version only; the purposes come from the policy itself.
    loadPolicy().catch((error) => handleError(error, "Could not read the new policy"));
  }

  function buildOptinRows() {
    for (const purpose of PURPOSES) {
      const row = document.createElement("div");
      row.className = "optin";
      row.setAttribute("data-testid", `optin-${purpose}`);
      row.dataset.purpose = purpose;

      const head = document.createElement("div");
      head.className = "optin-head";
      const name = document.createElement("span");
      name.className = "optin-name";
      name.textContent = PURPOSE_LABELS[purpose];
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.hidden = true;
      const pct = document.createElement("span");
      pct.className = "optin-pct";
      pct.textContent = "—";
      head.append(name, tag, pct);

      const bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", `${PURPOSE_LABELS[purpose]} opt-in rate`);
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      const fill = document.createElement("div");
      fill.className = "bar-fill";
      bar.append(fill);

      const counts = document.createElement("div");
      counts.className = "optin-counts";
      counts.textContent = "no choices yet";

      row.append(head, bar, counts);
      el.optinList.append(row);
    }
  }

  function optinRow(purpose) {
    return el.optinList.querySelector(`[data-purpose="${purpose}"]`);
  }

  function renderPurposeSettings() {
    const purposes = (state.policy && state.policy.purposes) || {};
    for (const purpose of PURPOSES) {
      const tag = optinRow(purpose).querySelector(".tag");
      const setting = purposes[purpose];
      if (!state.policy) {
        tag.hidden = true;
      } else if (!setting || !setting.enabled) {
        tag.hidden = false;
        tag.textContent = "not in use";
        tag.dataset.kind = "off";
      } else if (setting.reconsentSinceVersion) {
        tag.hidden = false;
        tag.textContent = `re-consent since v${setting.reconsentSinceVersion}`;
        tag.dataset.kind = "warn";
      } else {
        tag.hidden = true;
      }
    }
  }

  // One line per purpose: its opt-in rate (%) at each stored snapshot; a purpose nobody chose has no point.
  function renderHistory(history, from, to) {
    if (!history || history.storeId !== storeId) {
      return;
    }
    const snapshots = history.snapshots || [];
    const datasets = PURPOSES.map((purpose) => ({
      label: PURPOSE_LABELS[purpose],
      borderColor: PURPOSE_COLORS[purpose],
      backgroundColor: PURPOSE_COLORS[purpose],
      borderWidth: 2,
      pointRadius: snapshots.length > 60 ? 0 : 2,
      stepped: "after", // a rate holds from its snapshot until the next one
      data: snapshots
        .filter((snapshot) => snapshot.purposes && snapshot.purposes[purpose] && snapshot.purposes[purpose].optInRate !== null)
        .map((snapshot) => ({ x: Date.parse(snapshot.at), y: Math.round(snapshot.purposes[purpose].optInRate * 1000) / 10 })),
    }));
    const points = datasets.reduce((sum, dataset) => sum + dataset.data.length, 0);
    el.historyChart.dataset.points = String(points);
    el.historyChart.dataset.snapshots = String(snapshots.length);
    el.historyChart.dataset.first = snapshots.length ? snapshots[0].at : "";
    el.historyChart.dataset.last = snapshots.length ? snapshots[snapshots.length - 1].at : "";
    el.historySummary.textContent = snapshots.length
      ? `${snapshots.length} snapshots, last ${formatTime(new Date(snapshots[snapshots.length - 1].at))}`
      : "no snapshots yet";

    if (typeof Chart === "undefined") {
      el.historySummary.textContent += " (chart library not loaded)";
      return;
    }
    const scales = {
      x: {
        type: "linear",
        min: from.getTime(),
        max: to.getTime(),
        // Ticks on whole hours, every three, rather than the linear scale's round numbers of milliseconds.
        afterBuildTicks: (axis) => {
          axis.ticks = hourTicks(axis.min, axis.max);
        },
        ticks: { callback: (value) => hourFormat.format(new Date(value)) },
      },
      y: { min: 0, max: 100, ticks: { callback: (value) => `${value}%` } },
    };
    if (state.chart) {
      state.chart.data.datasets = datasets;
      state.chart.options.scales.x.min = scales.x.min;
      state.chart.options.scales.x.max = scales.x.max;
      state.chart.update("none");
    } else {
      state.chart = new Chart(el.historyCanvas, {
        type: "line",
        data: { datasets },
        options: {
          animation: false,
          maintainAspectRatio: false,
          parsing: false,
          interaction: { mode: "nearest", intersect: false },
          plugins: {
            legend: { position: "bottom", labels: { boxWidth: 12 } },
            tooltip: {
              callbacks: {
                title: (items) => (items.length ? formatDateTime(items[0].parsed.x) : ""),
                label: (item) => `${item.dataset.label}: ${item.parsed.y}%`,
              },
            },
          },
          scales,
        },
      });
    }
    el.historyChart.dataset.drawn = "true";
  }

  function hourTicks(min, max) {
    const step = 3 * 60 * 60 * 1000;
    const ticks = [];
    for (let value = Math.ceil(min / step) * step; value <= max; value += step) {
      ticks.push({ value });
    }
    return ticks;
  }

  function renderStats(stats, fromHttp) {
    if (!stats || stats.storeId !== storeId) {
      return;
    }
    // An HTTP answer may arrive after a newer statsChanged; keep the newest snapshot.
    if (stats.at && state.statsAt && Date.parse(stats.at) < Date.parse(state.statsAt)) {
      return;
    }
    state.statsAt = stats.at || state.statsAt;
    el.totalChecks.textContent = formatCount(stats.checks);
    el.totalGrants.textContent = formatCount(stats.grants);
    el.totalWithdrawals.textContent = formatCount(stats.withdrawals);
    el.statsAt.textContent = stats.at ? `as of ${formatTime(new Date(stats.at))}` : "";
    el.statsAt.title = fromHttp ? "read over HTTP" : "live";

    const purposes = stats.purposes || {};
    for (const purpose of PURPOSES) {
      renderOptin(purpose, purposes[purpose]);
    }
  }

  function renderOptin(purpose, numbers) {
    const row = optinRow(purpose);
    const fill = row.querySelector(".bar-fill");
    const bar = row.querySelector(".bar");
    const pct = row.querySelector(".optin-pct");
    const counts = row.querySelector(".optin-counts");
    const granted = numbers ? Number(numbers.granted) || 0 : 0;
    const withdrawn = numbers ? Number(numbers.withdrawn) || 0 : 0;
    const rate = numbers && numbers.optInRate !== null && numbers.optInRate !== undefined ? Number(numbers.optInRate) : null;

    row.dataset.granted = String(granted);
    row.dataset.withdrawn = String(withdrawn);
    row.dataset.rate = rate === null ? "" : String(rate);
    row.classList.toggle("optin-empty", rate === null);

    if (rate === null) {
      pct.textContent = "—";
      fill.style.width = "0%";
      bar.removeAttribute("aria-valuenow");
      counts.textContent = "no choices yet";
    } else {
      const percent = Math.round(Math.min(1, Math.max(0, rate)) * 1000) / 10;
      pct.textContent = `${percent}%`;
      fill.style.width = `${percent}%`;
      bar.setAttribute("aria-valuenow", String(percent));
      counts.textContent = "";
      counts.append(
        countSpan(granted, "granted", "count-granted"),
        document.createTextNode(" · "),
        countSpan(withdrawn, "withdrawn", "count-withdrawn"));
    }

    if (numbers && Number.isFinite(Number(numbers.checks))) {
      counts.append(document.createTextNode(` · ${formatCount(numbers.checks)} checks`));
    }
  }

  function countSpan(value, word, className) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = `${formatCount(value)} ${word}`;
    return span;
  }

  // ---------- the feed ----------

  function feedItem(kind, message) {
    const item = document.createElement("li");
    item.className = `feed-item feed-${kind}`;
    item.dataset.sequence = String(message.sequence);
    const time = document.createElement("time");
    time.className = "feed-time";
    if (message.at) {
      time.dateTime = message.at;
      time.textContent = formatTime(new Date(message.at));
      time.title = message.at;
    }
    const body = document.createElement("div");
    body.className = "feed-body";
    item.append(body, time);
    return { item, body };
  }

  function text(tag, className, value) {
    const node = document.createElement(tag);
    node.className = className;
    node.textContent = value;
    return node;
  }

  function addConsentItem(message) {
    const { item, body } = feedItem("consent", message);
    const granted = message.granted === true;
    item.setAttribute("data-testid", "feed-item");
    item.classList.add(granted ? "is-granted" : "is-withdrawn");
    item.dataset.subject = String(message.subjectId);
    item.dataset.purpose = String(message.purpose);
    item.dataset.granted = String(granted);
    body.append(
      text("span", "pill", granted ? "granted" : "withdrawn"),
      text("span", "feed-subject", String(message.subjectId)),
      text("span", "feed-verb", granted ? " opted in to " : " opted out of "),
      text("span", "feed-purpose", String(message.purpose)));
    prepend(item);
  }

  function addPolicyItem(message) {
    const { item, body } = feedItem("policy", message);
    item.setAttribute("data-testid", "feed-policy");
    body.append(
      text("span", "pill", "policy"),
      text("span", "feed-text", `Policy v${message.policyVersion} published`),
      text("span", "feed-detail", message.status ? ` · ${message.status}` : ""));
    prepend(item);
  }

  function addOverdueItem(message) {
    const { item, body } = feedItem("overdue", message);
    item.setAttribute("data-testid", "feed-overdue");
    item.dataset.request = String(message.requestId);
    body.append(
      text("span", "pill", "overdue"),
      text("span", "feed-text", `${humanType(message.type)} request of `),
      text("span", "feed-subject", String(message.subjectId)),
      text("span", "feed-detail", message.dueAt ? ` was due ${formatDateTime(message.dueAt)}` : " is overdue"));
    item.title = `Request ${message.requestId}`;
    prepend(item);
  }

  function prepend(item) {
    el.feed.prepend(item);
    while (el.feed.childElementCount > FEED_LIMIT) {
      el.feed.lastElementChild.remove();
    }
    el.feedEmpty.hidden = true;
    el.feedCount.textContent = String(el.feed.childElementCount);
  }

  // ---------- formatting ----------

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const countFormat = new Intl.NumberFormat();

  function formatTime(date) {
    return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
  }

  function formatDateTime(value) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : dateTimeFormat.format(date);
  }

  function formatCount(value) {
    const number = Number(value);
    return Number.isFinite(number) ? countFormat.format(number) : "—";
  }

  function humanType(type) {
    const value = String(type || "data");
    return value.charAt(0).toUpperCase() + value.slice(1);
  }

  // ---------- start-up (last, once every declaration above is initialised) ----------

  boot();

  function boot() {
    el.storeId.textContent = storeId || "(none)";
    document.title = `${storeId} · Consent dashboard · ShopAstro`;
    buildOptinRows();

    el.tokenForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = el.tokenInput.value.trim();
      if (!value) {
        return;
      }
      el.tokenInput.value = "";
      useToken(value);
    });
    el.signOut.addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      stop();
      askForToken("");
    });

    if (!storeId) {
      showBanner("No store in the address: open /dashboard/<storeId>.");
      el.dashboard.hidden = false;
      setConnection("disconnected", "No store");
      return;
    }

    const initialToken = readTokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
    if (initialToken) {
      useToken(initialToken);
    } else {
      askForToken("");
    }
  }
})();
