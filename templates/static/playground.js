// The playground: a chat with any served chat model, streamed token by token with
// fetch + ReadableStream, parsing the server-sent events as they arrive.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let status = JSON.parse($("patchbay-boot").textContent);
  let history = [];
  let running = null; // the AbortController of the reply in flight

  function chatModels() {
    return status.models.filter((m) => m.type === "chat").map((m) => m.id);
  }

  function renderModels() {
    const select = $("pg-model");
    const previous = select.value;
    const ids = chatModels();
    select.replaceChildren(...ids.map((id) => {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = id;
      return option;
    }));
    if (ids.includes(previous)) select.value = previous;
    else if (previous) note(`${previous} is no longer served; switched to ${select.value || "nothing"}.`);
    const chat = status.api.chat;
    $("pg-path").textContent = chat || "(no chat route is on)";
    $("pg-send").disabled = !chat || !ids.length || running !== null;
    $("pg-key-label").hidden = !status.api.auth_required;
    document.dispatchEvent(new CustomEvent("patchbay:model", { detail: select.value }));
  }

  function note(text) {
    $("pg-meta").textContent = text;
  }

  function bubble(role, text) {
    $("pg-placeholder")?.remove();
    const node = document.createElement("div");
    node.className = `msg ${role}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role;
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    node.append(who, body);
    $("pg-output").append(node);
    $("pg-output").scrollTop = $("pg-output").scrollHeight;
    return body;
  }

  // Yields the `data:` payload of each event in the stream, as text.
  async function* sseData(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const events = buffer.replace(/\r\n?/g, "\n").split("\n\n");
      buffer = done ? "" : events.pop();
      for (const event of events) {
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
        if (data.length) yield data.join("\n");
      }
      if (done) return;
    }
  }

  async function errorText(reply) {
    try {
      const data = await reply.json();
      return data.error ? data.error.message : JSON.stringify(data);
    } catch {
      return `HTTP ${reply.status}`;
    }
  }

  async function send(text) {
    const model = $("pg-model").value;
    history.push({ role: "user", content: text });
    bubble("user", text);
    const out = bubble("assistant", "");
    out.parentElement.classList.add("streaming");
    running = new AbortController();
    $("pg-send").disabled = true;
    $("pg-stop").hidden = false;
    const started = performance.now();
    let firstToken = null;
    let usage = null;
    let reply = "";
    const headers = { "Content-Type": "application/json" };
    if ($("pg-key").value) headers.Authorization = `Bearer ${$("pg-key").value}`;
    note(`asking ${model}…`);
    try {
      const response = await fetch(status.api.chat, {
        method: "POST",
        headers,
        body: JSON.stringify({ model, messages: history, stream: true, stream_options: { include_usage: true } }),
        signal: running.signal,
      });
      if (!response.ok) throw new Error(await errorText(response));
      const served = ["provider", "model", "attempts"].map((h) => response.headers.get(`x-patchbay-${h}`));
      for await (const data of sseData(response.body)) {
        if (data === "[DONE]") break;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          if (firstToken === null) firstToken = performance.now() - started;
          reply += delta.content;
          out.textContent = reply;
          $("pg-output").scrollTop = $("pg-output").scrollHeight;
        }
      }
      history.push({ role: "assistant", content: reply });
      const parts = [`${served[0]}/${served[1]}`, `attempts ${served[2]}`];
      if (firstToken !== null) parts.push(`first token ${Math.round(firstToken)} ms`);
      parts.push(`total ${Math.round(performance.now() - started)} ms`);
      if (usage) parts.push(`${usage.completion_tokens} completion tokens`);
      note(parts.join(" · "));
    } catch (err) {
      history.pop();
      out.parentElement.classList.add("error");
      out.textContent = err.name === "AbortError" ? `${reply} [stopped]` : `Error: ${err.message}`;
      note(err.name === "AbortError" ? "stopped" : "the request failed");
    } finally {
      out.parentElement.classList.remove("streaming");
      running = null;
      $("pg-stop").hidden = true;
      renderModels();
    }
  }

  $("pg-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("pg-input").value.trim();
    if (!text || running || $("pg-send").disabled) return;
    $("pg-input").value = "";
    send(text);
  });
  $("pg-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("pg-form").requestSubmit();
    }
  });
  $("pg-stop").addEventListener("click", () => running && running.abort());
  $("pg-clear").addEventListener("click", () => {
    history = [];
    $("pg-output").replaceChildren();
    note("");
  });
  $("pg-model").addEventListener("change", () => {
    document.dispatchEvent(new CustomEvent("patchbay:model", { detail: $("pg-model").value }));
  });
  document.addEventListener("patchbay:pick", (event) => {
    $("pg-model").value = event.detail;
    $("pg-model").dispatchEvent(new Event("change"));
    $("pg-input").focus();
  });
  document.addEventListener("patchbay:status", (event) => {
    status = event.detail;
    renderModels();
  });

  renderModels();
})();
