// The try-it page: transcription and synthesis through the server's own API, no build step, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "audio-server-api-key";
const EXTENSIONS = { mp3: "mp3", opus: "ogg", aac: "aac", flac: "flac", wav: "wav" };
const JOBS = "/v1/inference/audio/jobs";
let upload = null; // the File or recorded Blob to transcribe
let uploadSeconds = Promise.resolve(null); // how long it lasts, as the browser reads it (null: unknown)
let last = null; // the last transcription's answer (with `resultUrl` when a job made it)
let job = null; // the job this page follows: { id, cancelled }

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function apiError(response) {
  // The API's own message, from either envelope; a body that is not JSON is shown as it came.
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return body.error && body.error.message ? body.error.message : text;
  } catch {
    return `${response.status} ${response.statusText}: ${text.slice(0, 300)}`;
  }
}

function show(id, message) {
  const box = $(id);
  box.textContent = message || "";
  box.hidden = !message;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function clock(seconds) {
  // 0:11, 12:05, 1:02:03
  const whole = Math.round(seconds);
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// ---------------------------------------------------------------- status

async function refreshStatus() {
  try {
    const ready = await (await fetch("/ready")).json();
    $("status-ready").textContent = ready.status === "ok" ? "yes" : `no${ready.errors.length ? ": " + ready.errors.join("; ") : ""}`;
    $("status-loaded").textContent = ready.models_loaded.join(", ") || "none yet";
    const metrics = await fetch("/metrics", { headers: headers() });
    if (metrics.ok) {
      const queued = (await metrics.text()).split("\n").filter((l) => l.startsWith("audio_queue_depth{"));
      $("status-queue").textContent = String(queued.reduce((sum, l) => sum + Number(l.split(" ").pop()), 0));
    } else {
      $("status-queue").textContent = "needs the API key";
    }
  } catch (error) {
    $("status-ready").textContent = `unreachable (${error})`;
  }
}

async function loadChoices() {
  const models = await fetch("/oai/v1/models", { headers: headers() });
  const voices = await fetch("/oai/v1/audio/voices", { headers: headers() });
  if (!models.ok || !voices.ok) {
    show("t-error", await apiError(models.ok ? voices : models));
    return;
  }
  const transcription = (await models.json()).data.filter((m) => m.task === "transcription");
  $("t-model").replaceChildren(...transcription.map((m) => new Option(m.id === m.root ? m.id : `${m.id} (${m.root})`, m.id)));
  $("t-model").value = transcription.some((m) => m.id === "whisper-1") ? "whisper-1" : transcription[0]?.id;
  const list = (await voices.json()).voices;
  $("s-voice").replaceChildren(...list.map((v) => new Option(v.voice === v.id ? v.id : `${v.id} (${v.voice}${v.speaker_id != null ? " #" + v.speaker_id : ""})`, v.id)));
  show("t-error", "");
}

// ---------------------------------------------------------------- transcription

function jobSeconds() {
  // Recordings longer than this go to the server as jobs (the server's AUDIO_PAGE_JOB_SECONDS).
  const limit = Number(document.body.dataset.jobSeconds);
  return limit > 0 ? limit : 600;
}

function mediaSeconds(file) {
  // The length the browser reads from the file's header, without decoding it all; null if it cannot tell.
  return new Promise((resolve) => {
    const media = document.createElement("audio");
    const url = URL.createObjectURL(file);
    let timer = null;
    const settle = (seconds) => {
      if (timer === null) return;
      clearTimeout(timer);
      timer = null;
      URL.revokeObjectURL(url);
      media.removeAttribute("src");
      resolve(Number.isFinite(seconds) && seconds > 0 ? seconds : null);
    };
    timer = setTimeout(() => settle(null), 15000);
    media.preload = "metadata";
    media.addEventListener("error", () => settle(null));
    media.addEventListener("loadedmetadata", () => {
      if (Number.isFinite(media.duration)) {
        settle(media.duration);
        return;
      }
      // WebM from a MediaRecorder names no duration: a seek past the end makes the browser find it.
      media.addEventListener("durationchange", () => Number.isFinite(media.duration) && settle(media.duration));
      media.currentTime = 1e101;
    });
    media.src = url;
  });
}

function takeFile(file, recordedSeconds = null) {
  upload = file;
  $("record-state").textContent = file ? `${file.name || "recording"} (${Math.round(file.size / 1024)} KB)` : "";
  uploadSeconds = !file ? Promise.resolve(null) : recordedSeconds ? Promise.resolve(recordedSeconds) : mediaSeconds(file);
  uploadSeconds.then((seconds) => {
    if (upload !== file || seconds == null) return;
    const long = seconds > jobSeconds() ? ", sent as a job" : "";
    $("record-state").textContent = `${file.name || "recording"} (${Math.round(file.size / 1024)} KB, ${clock(seconds)}${long})`;
  });
}

let recorder = null;
async function toggleRecording() {
  if (recorder && recorder.state === "recording") {
    recorder.stop();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    show("t-error", `The microphone is not available: ${error.message}`);
    return;
  }
  const pieces = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (event) => pieces.push(event.data);
  const started = performance.now();
  recorder.onstop = () => {
    stream.getTracks().forEach((track) => track.stop());
    const blob = new Blob(pieces, { type: recorder.mimeType || "audio/webm" });
    takeFile(new File([blob], "recording.webm", { type: blob.type }), (performance.now() - started) / 1000);
    $("record").textContent = "Record from the microphone";
    $("transcribe-form").requestSubmit();
  };
  recorder.start(250);
  $("record").textContent = "Stop and transcribe";
  $("record-state").textContent = "recording…";
}

function transcriptionForm(format) {
  const form = new FormData();
  form.append("file", upload, upload.name || "audio");
  form.append("model", $("t-model").value);
  if ($("t-language").value.trim()) form.append("language", $("t-language").value.trim());
  form.append("response_format", format);
  if (format === "verbose_json") {
    if ($("t-segments").checked) form.append("timestamp_granularities[]", "segment");
    if ($("t-words").checked) form.append("timestamp_granularities[]", "word");
  }
  return form;
}

async function transcribe(event) {
  event.preventDefault();
  if (job) {
    show("t-error", "A job is still being transcribed: wait for it, or cancel it.");
    return;
  }
  show("t-error", "");
  if (!upload) {
    show("t-error", "Choose, drop or record some audio first.");
    return;
  }
  const format = $("t-format").value;
  $("transcribe").disabled = true;
  try {
    const seconds = await uploadSeconds;
    if (seconds != null && seconds > jobSeconds()) {
      await transcribeAsJob(format, seconds);
      return;
    }
    $("t-job").hidden = true;
    const form = transcriptionForm(format);
    const streaming = $("t-stream").checked;
    if (streaming) form.append("stream", "true");
    const response = await fetch("/v1/inference/audio/transcribe", { method: "POST", body: form, headers: headers() });
    if (!response.ok) {
      show("t-error", await apiError(response));
      return;
    }
    $("t-result").hidden = false;
    $("t-audio").src = URL.createObjectURL(upload);
    if (streaming) {
      await readTranscriptStream(response);
    } else if (format === "srt" || format === "vtt") {
      render({ text: "", raw: await response.text() });
    } else {
      render((await response.json()).data);
    }
  } catch (error) {
    show("t-error", `The request failed: ${error.message}`);
  } finally {
    $("transcribe").disabled = false;
  }
}

// A long recording is a job: submitted once, then followed here every second until it is done.

async function transcribeAsJob(format, seconds) {
  const file = upload;
  const response = await fetch(JOBS, { method: "POST", body: transcriptionForm(format), headers: headers() });
  if (!response.ok) {
    show("t-error", await apiError(response));
    return;
  }
  let view = (await response.json()).data;
  const following = { id: view.id, cancelled: false };
  job = following;
  last = null;
  $("t-result").hidden = true;
  $("t-job").hidden = false;
  $("t-cancel").hidden = false;
  $("t-cancel").disabled = false;
  $("t-job-note").textContent = `${clock(seconds)} of audio is longer than ${clock(jobSeconds())}: the server transcribes it as job ${view.id}.`;
  try {
    showJob(view);
    let failures = 0;
    while (view.state === "queued" || view.state === "running") {
      await sleep(1000);
      if (following.cancelled) return;
      try {
        const answer = await fetch(`${JOBS}/${encodeURIComponent(following.id)}`, { headers: headers() });
        if (!answer.ok) {
          show("t-error", await apiError(answer));
          return;
        }
        view = (await answer.json()).data;
        failures = 0;
      } catch (error) {
        // The server may be restarting: a job outlives that, so the page keeps asking for a while.
        if (++failures >= 10) throw error;
        continue;
      }
      if (following.cancelled) return;
      showJob(view);
    }
    $("t-cancel").hidden = true;
    if (view.state === "succeeded") {
      await showJobResult(view, format, file);
    } else if (view.state === "failed") {
      show("t-error", `The job failed: ${view.error ? view.error.message : "no reason given"}`);
    }
  } finally {
    if (job === following) job = null;
  }
}

function showJob(view) {
  const progress = view.progress || {};
  if (progress.fraction != null) $("t-progress").value = progress.fraction;
  else $("t-progress").removeAttribute("value"); // indeterminate until the audio's length is known
  const done = Number(progress.audio_seconds_done || 0);
  $("t-job-done").textContent = progress.audio_seconds_total != null ? `${clock(done)} / ${clock(progress.audio_seconds_total)}` : clock(done);
  $("t-job-state").textContent = view.state;
}

async function showJobResult(view, format, file) {
  const raw = format === "srt" || format === "vtt";
  const response = await fetch(`${view.result_url}?response_format=${format}`, { headers: headers() });
  if (!response.ok) {
    show("t-error", await apiError(response));
    return;
  }
  $("t-result").hidden = false;
  $("t-audio").src = URL.createObjectURL(file);
  if (raw) {
    render({ text: "", raw: await response.text(), resultUrl: view.result_url });
    return;
  }
  const data = (await response.json()).data;
  // A job keeps every timestamp; the page shows those the form asked for, as for a short file.
  if (!$("t-words").checked) delete data.words;
  if ($("t-words").checked && !$("t-segments").checked) delete data.segments;
  render({ ...data, resultUrl: view.result_url });
}

async function cancelJob() {
  const following = job;
  if (!following) return;
  following.cancelled = true;
  $("t-cancel").disabled = true;
  try {
    const response = await fetch(`${JOBS}/${encodeURIComponent(following.id)}`, { method: "DELETE", headers: headers() });
    if (!response.ok && response.status !== 404) {
      show("t-error", `The job could not be cancelled: ${await apiError(response)}`);
      return;
    }
    $("t-job-state").textContent = "cancelled";
    $("t-cancel").hidden = true;
  } catch (error) {
    show("t-error", `The job could not be cancelled: ${error.message}`);
  } finally {
    if (job === following) job = null;
  }
}

async function readTranscriptStream(response) {
  render({ text: "" });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, end).split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      buffer = buffer.slice(end + 2);
      if (!data) continue;
      const event = JSON.parse(data);
      if (event.type === "transcript.text.delta") $("t-text").textContent += event.delta;
      else if (event.type === "transcript.text.done") render({ text: event.text, duration: event.usage && event.usage.seconds });
      else if (event.type === "error") show("t-error", event.error.message);
    }
  }
}

function render(data) {
  last = data;
  $("t-lang").textContent = data.language || "–";
  $("t-duration").textContent = data.duration != null ? Number(data.duration).toFixed(2) : "–";
  $("t-raw").hidden = !data.raw;
  $("t-raw").textContent = data.raw || "";
  const text = $("t-text");
  text.replaceChildren();
  if (data.words && data.words.length) {
    for (const word of data.words) {
      const span = document.createElement("span");
      span.className = "word";
      span.dataset.start = word.start;
      span.dataset.end = word.end;
      span.textContent = word.word + " ";
      text.append(span);
    }
  } else {
    text.textContent = data.text || "";
  }
  const rows = (data.segments || []).map((s) => {
    const row = document.createElement("tr");
    for (const cell of [s.start.toFixed(2), s.end.toFixed(2), s.text.trim()]) {
      const td = document.createElement("td");
      td.textContent = cell;
      row.append(td);
    }
    return row;
  });
  $("t-segments-table").hidden = !rows.length;
  $("t-segments-table").tBodies[0].replaceChildren(...rows);
}

function highlightWord() {
  const now = $("t-audio").currentTime;
  for (const span of $("t-text").querySelectorAll(".word")) {
    // A word stays lit through the pause after it, until the next one starts.
    const next = span.nextElementSibling;
    const until = next ? Number(next.dataset.start) : Number(span.dataset.end);
    span.classList.toggle("now", now >= Number(span.dataset.start) && now < Math.max(until, Number(span.dataset.end)));
  }
}

async function download(kind) {
  let body = last && last.text ? last.text + "\n" : "";
  if (last && last.resultUrl) {
    // A job's transcript is the server's, in any format, for as long as it keeps the job.
    const response = await fetch(`${last.resultUrl}?response_format=${kind === "txt" ? "text" : kind}`, { headers: headers() });
    if (!response.ok) {
      show("t-error", await apiError(response));
      return;
    }
    body = kind === "txt" ? (await response.json()).data.text + "\n" : await response.text();
  } else if (kind !== "txt") {
    // Subtitles come from the server, whose cues are sized for reading.
    const response = await fetch("/v1/inference/audio/transcribe", { method: "POST", body: transcriptionForm(kind), headers: headers() });
    if (!response.ok) {
      show("t-error", await apiError(response));
      return;
    }
    body = await response.text();
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([body], { type: "text/plain" }));
  link.download = `transcript.${kind}`;
  link.click();
}

// ---------------------------------------------------------------- synthesis

function countCharacters() {
  const limit = Number(document.body.dataset.maxInput) || 4096;
  const length = $("s-input").value.length;
  $("s-count").textContent = `${length} / ${limit} characters`;
  $("s-count").classList.toggle("over", length > limit);
}

async function speak(event) {
  event.preventDefault();
  show("s-error", "");
  const format = $("s-format").value;
  const body = { model: "tts-1", input: $("s-input").value, voice: $("s-voice").value, response_format: format, speed: Number($("s-speed").value) };
  $("speak").disabled = true;
  try {
    const response = await fetch("/v1/inference/audio/synthesize", {
      method: "POST",
      body: JSON.stringify(body),
      headers: headers({ "Content-Type": "application/json" }),
    });
    if (!response.ok) {
      show("s-error", await apiError(response));
      return;
    }
    $("s-result").hidden = false;
    const audio = $("s-audio");
    const type = response.headers.get("Content-Type") || "audio/mpeg";
    const pieces = [];
    if (window.MediaSource && MediaSource.isTypeSupported(type) && format === "mp3") {
      await playWhileStreaming(audio, response, type, pieces);
    } else {
      pieces.push(await response.arrayBuffer());
      audio.src = URL.createObjectURL(new Blob(pieces, { type }));
      audio.play().catch(() => {});
    }
    $("s-download").href = URL.createObjectURL(new Blob(pieces, { type }));
    $("s-download").download = `speech.${EXTENSIONS[format]}`;
  } catch (error) {
    show("s-error", `The request failed: ${error.message}`);
  } finally {
    $("speak").disabled = false;
  }
}

async function playWhileStreaming(audio, response, type, pieces) {
  // Media Source Extensions: each sentence plays as soon as it arrives.
  const source = new MediaSource();
  audio.src = URL.createObjectURL(source);
  await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
  const buffer = source.addSourceBuffer(type);
  const reader = response.body.getReader();
  let started = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pieces.push(value);
    if (buffer.updating) await new Promise((resolve) => buffer.addEventListener("updateend", resolve, { once: true }));
    buffer.appendBuffer(value);
    if (!started) {
      started = true;
      audio.play().catch(() => {});
    }
  }
  if (buffer.updating) await new Promise((resolve) => buffer.addEventListener("updateend", resolve, { once: true }));
  source.endOfStream();
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = localStorage.getItem(KEY_STORE) || "";
  $("api-key").addEventListener("change", () => {
    localStorage.setItem(KEY_STORE, $("api-key").value.trim());
    loadChoices();
    refreshStatus();
  });
  $("audio-file").addEventListener("change", (event) => takeFile(event.target.files[0] || null));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) takeFile(event.dataTransfer.files[0]);
  });
  $("record").addEventListener("click", toggleRecording);
  $("t-cancel").addEventListener("click", cancelJob);
  $("transcribe-form").addEventListener("submit", transcribe);
  $("t-audio").addEventListener("timeupdate", highlightWord);
  $("t-audio").addEventListener("seeked", highlightWord);
  for (const button of document.querySelectorAll("[data-download]")) {
    button.addEventListener("click", () => download(button.dataset.download));
  }
  $("s-input").addEventListener("input", countCharacters);
  $("speech-form").addEventListener("submit", speak);
  countCharacters();
  loadChoices();
  refreshStatus();
  setInterval(refreshStatus, 5000);
});
