// The landing page's live view: renders the status JSON and polls it every 2 s, so the
// page follows config reloads without a page load. Data goes into the DOM as text only.
"use strict";

(() => {
  const POLL_MS = 2000;
  const STATE_LABELS = {
    active: "active",
    disabled: "switched off",
    missing_key: "missing key",
    cooldown: "cooling down",
  };
  const $ = (id) => document.getElementById(id);
  let status = JSON.parse($("patchbay-boot").textContent);
  let lastText = "";
  let selectedModel = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function ago(seconds) {
    const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(seconds * 1000).toLocaleString();
  }

  function renderConfig(config) {
    $("config-hash").textContent = config.hash.slice(0, 12);
    $("config-hash").title = config.hash;
    $("config-age").textContent = ago(config.loaded_at);
    $("config-age").title = new Date(config.loaded_at * 1000).toLocaleString();
    $("config-sources").textContent = config.sources.join(", ");
    const alerts = [];
    if (config.last_error.length) {
      const when = config.last_error_at ? ` (${ago(config.last_error_at)})` : "";
      alerts.push(
        el("div", { class: "alert error", id: "last-error", role: "alert" },
          el("strong", { text: `The last edit was rejected${when}; the config above keeps serving.` }),
          el("ul", {}, ...config.last_error.map((line) => el("li", {}, el("code", { text: line })))))
      );
    }
    if (config.serving_last_good) {
      alerts.push(el("div", { class: "alert warn", text:
        "The files on disk are invalid: serving the last good config kept in the state directory." }));
    }
    if (config.restart_needed.length) {
      alerts.push(el("div", { class: "alert info", text:
        `Changed listener settings take effect after a restart: ${config.restart_needed.join(", ")}.` }));
    }
    $("alerts").replaceChildren(...alerts);
  }

  function renderModels(models) {
    $("models-count").textContent = String(models.length);
    const items = models.map((m) =>
      el("li", { class: "model", "data-model": m.id, "data-type": m.type },
        el("button", { type: "button", class: "model-id", title: m.type === "chat" ? "Use in the playground" : null,
          text: m.id, "data-pick": m.type === "chat" ? m.id : null }),
        el("span", { class: `badge type-${m.type}`, text: m.type }),
        m.alias ? el("span", { class: "alias muted small", text: `${m.strategy}: ${m.alias.join(" → ")}` }) : null)
    );
    if (!items.length) items.push(el("li", { class: "empty muted", text: "No model is served right now." }));
    $("models").replaceChildren(...items);
  }

  function renderProviders(providers) {
    const active = providers.filter((p) => p.status === "active").length;
    $("providers-count").textContent = `${active} of ${providers.length} active`;
    $("providers").replaceChildren(...providers.map((p) =>
      el("div", { class: `provider state-${p.status}`, "data-provider": p.name, "data-state": p.status },
        el("div", { class: "provider-head" },
          el("strong", { text: p.name }),
          el("span", { class: `state badge state-${p.status}`, text: STATE_LABELS[p.status] || p.status })),
        el("div", { class: "muted small", text: `kind ${p.kind}` +
          (p.models.length ? ` · ${p.models.length} model${p.models.length === 1 ? "" : "s"}` : "") +
          (p.discover ? " · discovered" : "") +
          "" }),
        ...(p.needs ? [el("div", { class: "needs small", text: "set " }, ...p.needs.map((name) => el("code", { text: name })))] : []),
        ...Object.entries(p.health || {}).filter(([, h]) => h !== "ok").map(([model, h]) =>
          el("div", { class: "muted small model-health", "data-model": model, text: `${model}: ${h}` })))
    ));
  }

  function renderRoutes(routes) {
    const on = routes.filter((r) => r.enabled).length;
    $("routes-count").textContent = `${on} of ${routes.length} on`;
    $("routes").replaceChildren(...routes.map((r) =>
      el("tr", { class: r.enabled ? "" : "off", "data-route": r.path },
        el("td", {}, ...r.methods.map((m) => el("span", { class: `method m-${m.toLowerCase()}`, text: m }))),
        el("td", {}, el("code", { text: r.path })),
        el("td", {}, el("code", { text: r.handler })),
        el("td", { text: r.enabled ? "on" : "off" }))
    ));
  }

  function apiBase() {
    const chat = status.api.chat;
    const suffix = "/chat/completions";
    const path = chat && chat.endsWith(suffix) ? chat.slice(0, -suffix.length) : `${status.api.urls.landing.replace(/\/$/, "")}/v1`;
    return window.location.origin + path;
  }

  function snippetModel() {
    const chatModels = status.models.filter((m) => m.type === "chat").map((m) => m.id);
    if (selectedModel && chatModels.includes(selectedModel)) return selectedModel;
    return chatModels[0] || "auto";
  }

  function renderSnippets() {
    const base = apiBase();
    const model = snippetModel();
    const key = status.api.auth_required ? "YOUR_PATCHBAY_KEY" : "unused";
    const body = JSON.stringify({ model, messages: [{ role: "user", content: "Hello!" }] });
    $("base-url").textContent = base;
    $("snippet-curl").textContent = [
      `curl ${base}/chat/completions \\`,
      "  -H 'Content-Type: application/json' \\",
      ...(status.api.auth_required ? [`  -H 'Authorization: Bearer ${key}' \\`] : []),
      `  -d '${body}'`,
    ].join("\n");
    $("snippet-python").textContent = [
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${base}", api_key="${key}")`,
      "stream = client.chat.completions.create(",
      `    model="${model}",`,
      '    messages=[{"role": "user", "content": "Hello!"}],',
      "    stream=True,",
      ")",
      "for chunk in stream:",
      "    if chunk.choices:",
      '        print(chunk.choices[0].delta.content or "", end="")',
    ].join("\n");
    $("snippet-javascript").textContent = [
      'import OpenAI from "openai";',
      "",
      `const client = new OpenAI({ baseURL: "${base}", apiKey: "${key}" });`,
      "const stream = await client.chat.completions.create({",
      `  model: "${model}",`,
      '  messages: [{ role: "user", content: "Hello!" }],',
      "  stream: true,",
      "});",
      "for await (const chunk of stream) {",
      '  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");',
      "}",
    ].join("\n");
    renderResponsesSnippet(base, model, key);
    $("snippet-anthropic").textContent = anthropicSnippet(model, key);
  }

  function renderResponsesSnippet(base, model, key) {
    // The Responses API tab shows only while a route serves POST /v1/responses.
    $("tab-responses").hidden = !status.api.responses;
    $("snippet-responses").textContent = [
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${base}", api_key="${key}")`,
      "response = client.responses.create(",
      `    model="${model}",`,
      '    instructions="Answer in one sentence.",',
      '    input="Hello!",',
      ")",
      "print(response.output_text)",
    ].join("\n");
  }

  function anthropicSnippet(model, key) {
    // Anthropic's SDKs (and Claude Code's ANTHROPIC_BASE_URL) add /v1/messages themselves.
    const path = status.api.messages;
    const suffix = "/v1/messages";
    if (!path || !path.endsWith(suffix)) {
      return "# Anthropic's Messages API is not routed at .../v1/messages: see routes.yaml (messages.create).";
    }
    const root = window.location.origin + path.slice(0, -suffix.length);
    return [
      "import anthropic",
      "",
      `# Claude Code: ANTHROPIC_BASE_URL=${root} ANTHROPIC_API_KEY=${key}`,
      `client = anthropic.Anthropic(base_url="${root}", api_key="${key}")`,
      "with client.messages.stream(",
      `    model="${model}",`,
      "    max_tokens=1024,",
      '    messages=[{"role": "user", "content": "Hello!"}],',
      ") as stream:",
      "    for text in stream.text_stream:",
      '        print(text, end="")',
    ].join("\n");
  }

  function render() {
    renderConfig(status.config);
    renderModels(status.models);
    renderProviders(status.providers);
    renderRoutes(status.routes);
    renderSnippets();
    document.dispatchEvent(new CustomEvent("patchbay:status", { detail: status }));
  }

  async function poll() {
    try {
      const reply = await fetch(status.api.urls.status, { cache: "no-store" });
      if (!reply.ok) throw new Error(`status ${reply.status}`);
      const text = await reply.text();
      if (text !== lastText) {
        lastText = text;
        status = JSON.parse(text);
        render();
      } else {
        $("config-age").textContent = ago(status.config.loaded_at);
      }
      $("live").className = "live";
      $("live").textContent = "live";
    } catch (err) {
      $("live").className = "live down";
      $("live").textContent = "offline";
      $("live").title = `cannot reach the gateway (${err.message}); retrying`;
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  function copySnippet() {
    const code = document.querySelector("[data-snippet]:not([hidden])");
    const done = () => { $("copy").textContent = "Copied"; window.setTimeout(() => { $("copy").textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code.textContent).then(done);
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.execCommand("copy");
    done();
  }

  document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
    document.querySelectorAll("[data-snippet]").forEach((code) => { code.hidden = code.dataset.snippet !== tab.dataset.tab; });
  }));
  $("copy").addEventListener("click", copySnippet);
  $("models").addEventListener("click", (event) => {
    const pick = event.target.closest("[data-pick]");
    if (pick) document.dispatchEvent(new CustomEvent("patchbay:pick", { detail: pick.dataset.pick }));
  });
  document.addEventListener("patchbay:model", (event) => {
    selectedModel = event.detail;
    renderSnippets();
  });

  lastText = "";
  render();
  window.setTimeout(poll, POLL_MS);
})();
