// The playground's speech tab: type text, hear it. The answer is fetched whole as a
// WAV (every speech model can send one) and handed to an <audio> element.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let status = JSON.parse($("patchbay-boot").textContent);
  let clip = null; // the object URL playing now

  function speechModels() {
    return status.models.filter((m) => m.type === "speech").map((m) => m.id);
  }

  function render() {
    const select = $("sp-model");
    const previous = select.value;
    const ids = speechModels();
    select.replaceChildren(...ids.map((id) => {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = id;
      return option;
    }));
    if (ids.includes(previous)) select.value = previous;
    $("pg-tab-speech").hidden = !status.api.speech;
    $("sp-send").disabled = !status.api.speech || !ids.length;
    if (!ids.length) $("sp-meta").textContent = "No speech model is served.";
  }

  async function errorText(reply) {
    try {
      const data = await reply.json();
      return data.error ? data.error.message : JSON.stringify(data);
    } catch {
      return `HTTP ${reply.status}`;
    }
  }

  async function speak() {
    const text = $("sp-input").value.trim();
    if (!text) return;
    const headers = { "Content-Type": "application/json" };
    const key = $("pg-key") && $("pg-key").value;
    if (key) headers.Authorization = `Bearer ${key}`;
    $("sp-send").disabled = true;
    $("sp-meta").textContent = "Speaking…";
    try {
      const reply = await fetch(status.api.speech, {
        method: "POST",
        headers,
        body: JSON.stringify({
          model: $("sp-model").value,
          input: text,
          voice: $("sp-voice").value,
          response_format: "wav",
        }),
      });
      if (!reply.ok) {
        $("sp-meta").textContent = await errorText(reply);
        return;
      }
      const blob = await reply.blob();
      if (clip) URL.revokeObjectURL(clip);
      clip = URL.createObjectURL(blob);
      $("sp-audio").src = clip;
      const served = ["provider", "model"].map((h) => reply.headers.get(`x-patchbay-${h}`));
      $("sp-meta").textContent = `${served.join("/")} · ${blob.type || "audio"} · ${blob.size} bytes`;
      $("sp-audio").play().catch(() => {}); // a browser may wait for a click to play
    } catch (err) {
      $("sp-meta").textContent = `Failed: ${err.message}`;
    } finally {
      $("sp-send").disabled = false;
    }
  }

  document.querySelectorAll(".pg-tab").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll(".pg-tab").forEach((t) => t.classList.toggle("active", t === tab));
    document.querySelectorAll(".pg-pane").forEach((pane) => { pane.hidden = pane.id !== tab.dataset.pane; });
  }));
  $("sp-form").addEventListener("submit", (event) => {
    event.preventDefault();
    speak();
  });
  document.addEventListener("patchbay:status", (event) => {
    status = event.detail;
    render();
  });
  render();
})();
