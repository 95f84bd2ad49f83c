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
  $("s-voice").replaceChildren(...list.map((v) => new Option(voiceLabel(v), v.id)));
  show("t-error", "");
}

// "nova (hibari-heart) · en-us · female": the name, the voice behind it, and what that voice speaks and sounds like.
function voiceLabel(v) {
  const behind = v.voice === v.id ? "" : ` (${v.voice}${v.speaker_id != null ? " #" + v.speaker_id : ""})`;
  return [v.id + behind, v.language, v.gender].filter(Boolean).join(" · ");
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

function takeFile(file, recordedSeconds = null, note = null) {
  upload = file;
  $("record-state").textContent = file ? `${file.name || "recording"} (${Math.round(file.size / 1024)} KB)` : "";
  uploadSeconds = !file ? Promise.resolve(null) : recordedSeconds ? Promise.resolve(recordedSeconds) : mediaSeconds(file);
  uploadSeconds.then((seconds) => {
    if (upload !== file || seconds == null) return;
    const after = note ? `, ${note}` : seconds > jobSeconds() ? ", sent as a job" : "";
    $("record-state").textContent = `${file.name || "recording"} (${Math.round(file.size / 1024)} KB, ${clock(seconds)}${after})`;
  });
}

// ---------------------------------------------------------------- recording
// A recording is transcribed live, over the server's realtime WebSocket (OpenAI's protocol, with a
// short-lived ek_ key), each turn a line that firms up as the words come. Where that cannot start (a
// server without it), the recording is made as before and uploaded when it stops.

const REALTIME = "/oai/v1/realtime";
const PCM_RATE = 24000; // what the protocol takes: 16-bit little-endian mono PCM at 24 kHz
const FILE_RATE = 16000; // the copy kept for playback, downloads and another transcription
const SEND_MS = 100;
const OPEN_MS = 10000; // how long the session may take to open before the page records to upload instead
// After Stop, the page waits for the last turns' transcripts (a model on a CPU may take seconds for each, and
// a model not yet loaded longer) until the server has said nothing for a while, or for a minute at most; the
// button stops the wait.
const FINISH_IDLE_MS = 20000;
const FINISH_MAX_MS = 60000;

let recorder = null; // the MediaRecorder of a recording to upload
let live = null; // the live session in progress
let opening = false;

class LiveUnavailable extends Error {} // the server cannot transcribe live: record and upload instead

async function toggleRecording() {
  if (live) {
    if (!live.stopping) stopLive(live);
    else if (live.finish) live.finish();
    return;
  }
  if (recorder && recorder.state === "recording") {
    recorder.stop();
    return;
  }
  if (opening) return;
  opening = true;
  $("record").disabled = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    show("t-error", `The microphone is not available: ${error.message}`);
    opening = false;
    $("record").disabled = false;
    return;
  }
  show("t-error", "");
  $("record-state").textContent = "connecting…";
  // Recorded for an upload from the first moment, in case the live session does not open.
  let fallback = null;
  try {
    fallback = startRecorder(stream);
  } catch {
    fallback = null; // no MediaRecorder: live transcription is the only way
  }
  let capture = null;
  try {
    try {
      capture = await startCapture(stream);
    } catch (error) {
      throw new LiveUnavailable(`the microphone's samples cannot be read here (${error.message})`);
    }
    const socket = await openLive(await mintKey());
    if (fallback) fallback.discard();
    beginLive(stream, capture, socket);
  } catch (error) {
    if (capture) capture.stop();
    if (error instanceof LiveUnavailable && fallback) {
      $("record").textContent = "Stop and transcribe";
      $("record-state").textContent = `recording… (live transcription is unavailable: ${error.message}; the recording is sent when you stop)`;
    } else {
      if (fallback) fallback.discard();
      stream.getTracks().forEach((track) => track.stop());
      $("record-state").textContent = "";
      show("t-error", `Live transcription could not start: ${error.message}`);
    }
  } finally {
    opening = false;
    $("record").disabled = false;
  }
}

function startRecorder(stream) {
  // The recording to upload when it stops (the page's way before live transcription, and its fallback).
  const pieces = [];
  const made = new MediaRecorder(stream);
  let discarded = false;
  made.ondataavailable = (event) => pieces.push(event.data);
  const started = performance.now();
  made.onstop = () => {
    if (discarded) return;
    stream.getTracks().forEach((track) => track.stop());
    const blob = new Blob(pieces, { type: made.mimeType || "audio/webm" });
    takeFile(new File([blob], "recording.webm", { type: blob.type }), (performance.now() - started) / 1000);
    $("record").textContent = "Record from the microphone";
    $("transcribe-form").requestSubmit();
  };
  made.start(250);
  recorder = made;
  return {
    discard() {
      discarded = true;
      if (made.state !== "inactive") made.stop();
      if (recorder === made) recorder = null;
    },
  };
}

function liveSession() {
  const transcription = { model: $("t-model").value };
  const language = $("t-language").value.trim();
  if (language) transcription.language = language;
  // Turns end after half a second of silence (OpenAI's default): a line a phrase, not a line a breath.
  const turn_detection = { type: "server_vad", silence_duration_ms: 500 };
  return { type: "transcription", audio: { input: { format: { type: "audio/pcm", rate: PCM_RATE }, transcription, turn_detection } } };
}

async function mintKey() {
  // An ek_ key, made with the key this page was given: it opens the session, and nothing else.
  let response;
  try {
    response = await fetch(`${REALTIME}/client_secrets`, {
      method: "POST",
      body: JSON.stringify({ expires_after: { anchor: "created_at", seconds: 600 }, session: liveSession() }),
      headers: headers({ "Content-Type": "application/json" }),
    });
  } catch (error) {
    throw new LiveUnavailable(`no key for it (${error.message})`);
  }
  if (response.status === 404 || response.status === 405) throw new LiveUnavailable("this server does not offer it");
  if (!response.ok) throw new Error(await apiError(response));
  return (await response.json()).value;
}

function openLive(key) {
  // The socket once the session has taken the page's settings; LiveUnavailable if it does not get there.
  return new Promise((resolve, reject) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}${REALTIME}?intent=transcription`, ["realtime", `openai-insecure-api-key.${key}`]);
    } catch (error) {
      reject(new LiveUnavailable(error.message));
      return;
    }
    let said = null; // the server's own reason, when it gives one
    const fail = (why) => {
      clearTimeout(timer);
      socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close();
      reject(new LiveUnavailable(said || why));
    };
    const timer = setTimeout(() => fail("the server did not open a session in time"), OPEN_MS);
    socket.onclose = (event) => fail(`the connection closed (${event.code})`);
    socket.onmessage = (message) => {
      const event = parseEvent(message.data);
      if (!event) return;
      if (event.type === "session.created") {
        socket.send(JSON.stringify({ type: "session.update", session: liveSession() }));
      } else if (event.type === "session.updated") {
        clearTimeout(timer);
        socket.onmessage = socket.onclose = null;
        resolve(socket);
      } else if (event.type === "error") {
        said = (event.error && event.error.message) || "the server refused the session";
        if (socket.readyState === WebSocket.OPEN) fail(said);
      }
    };
  });
}

function parseEvent(data) {
  try {
    const event = JSON.parse(data);
    return event && typeof event.type === "string" ? event : null;
  } catch {
    return null;
  }
}

function beginLive(stream, capture, socket) {
  const session = { stream, capture, socket, items: new Map(), stopping: false, closed: false, said: null, heard: null, check: null };
  live = session;
  render({ text: "" });
  if (!job) $("t-job").hidden = true;
  $("t-result").hidden = false;
  $("t-audio").removeAttribute("src");
  $("transcribe").disabled = true;
  $("record").textContent = "Stop";
  $("record-state").textContent = "recording…";
  socket.onmessage = (message) => liveEvent(session, message.data);
  socket.onclose = (event) => liveClosed(session, event);
  session.timer = setInterval(() => sendAudio(session), SEND_MS);
  sendAudio(session);
}

function sendAudio(session) {
  const chunks = session.capture.pending.splice(0);
  if (!chunks.length || session.socket.readyState !== WebSocket.OPEN) return;
  const bytes = joinBytes(chunks);
  const most = PCM_RATE * 2; // a second of audio at most in one event (the first may carry a backlog)
  for (let at = 0; at < bytes.length; at += most) {
    session.socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: base64(bytes.subarray(at, at + most)) }));
  }
}

function liveLine(session, id) {
  // Each turn is a line, keyed on its item_id: turns may overlap.
  let item = session.items.get(id);
  if (!item) {
    const line = document.createElement("span");
    line.className = "line partial";
    line.dataset.item = id;
    $("t-text").append(line);
    item = { line, text: "", committed: false, done: false };
    session.items.set(id, item);
  }
  return item;
}

function liveEvent(session, data) {
  const event = parseEvent(data);
  if (!event) return;
  if (session.heard) session.heard();
  const id = event.item_id;
  switch (event.type) {
    case "input_audio_buffer.speech_started":
      liveLine(session, id);
      break;
    case "input_audio_buffer.committed":
      liveLine(session, id).committed = true;
      break;
    case "conversation.item.input_audio_transcription.delta": {
      const item = liveLine(session, id);
      if (!item.done) {
        item.text += event.delta || ""; // the words both readings agree on: they only ever append
        item.line.textContent = item.text;
      }
      break;
    }
    case "conversation.item.input_audio_transcription.completed": {
      const item = liveLine(session, id);
      const text = (event.transcript || "").trim();
      Object.assign(item, { done: true, committed: true, text });
      if (text) {
        item.line.textContent = text;
        item.line.classList.remove("partial");
      } else {
        item.line.remove(); // a turn with no words in it
      }
      break;
    }
    case "conversation.item.input_audio_transcription.failed": {
      const item = liveLine(session, id);
      Object.assign(item, { done: true, committed: true });
      item.line.classList.replace("partial", "failed");
      show("t-error", `A turn could not be transcribed: ${(event.error && event.error.message) || "no reason given"}`);
      break;
    }
    case "error":
      if (event.error && event.error.code === "input_audio_buffer_commit_empty") {
        // Too little audio to commit at the end is no error to the person recording, and no turn to wait for.
        for (const item of session.items.values()) if (!item.committed) item.done = true;
      } else {
        session.said = (event.error && event.error.message) || "The server reported an error.";
        show("t-error", session.said);
      }
      break;
  }
  if (session.check) session.check();
}

function liveClosed(session, event) {
  if (session.closed) return;
  session.closed = true;
  if (session.stopping) {
    if (session.check) session.check();
    return;
  }
  const why = session.said || `the connection closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`;
  show("t-error", `Live transcription stopped: ${why}. The recording so far is kept: Transcribe sends it.`);
  endLive(session, "live transcription stopped");
}

async function stopLive(session) {
  session.stopping = true;
  $("record").disabled = true;
  $("record").textContent = "Stop waiting";
  $("record-state").textContent = "finishing…";
  clearInterval(session.timer);
  await session.capture.stop();
  session.stream.getTracks().forEach((track) => track.stop());
  if (!session.closed) {
    sendAudio(session);
    // A turn the server's VAD has not ended yet is committed now, so that its last words are read too.
    if ([...session.items.values()].some((item) => !item.committed)) {
      session.socket.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    }
    await new Promise((resolve) => {
      let idle = null;
      const finish = () => {
        clearTimeout(idle);
        clearTimeout(limit);
        clearTimeout(enable);
        session.heard = session.check = session.finish = null;
        resolve();
      };
      session.finish = finish;
      const enable = setTimeout(() => ($("record").disabled = false), 1000); // not a double click's second half
      const limit = setTimeout(finish, FINISH_MAX_MS);
      session.heard = () => {
        clearTimeout(idle);
        idle = setTimeout(finish, FINISH_IDLE_MS);
      };
      session.check = () => {
        if (session.closed || [...session.items.values()].every((item) => item.done)) finish();
      };
      session.heard();
      session.check();
    });
    session.closed = true;
    session.socket.close(1000);
  }
  await endLive(session, "transcribed live");
}

async function endLive(session, note) {
  clearInterval(session.timer);
  await session.capture.stop();
  session.stream.getTracks().forEach((track) => track.stop());
  if (live === session) live = null;
  const kept = session.capture.kept;
  const seconds = kept.reduce((sum, chunk) => sum + chunk.length, 0) / 2 / FILE_RATE;
  const file = new File([wavBlob(kept, FILE_RATE)], "recording.wav", { type: "audio/wav" });
  takeFile(file, seconds || null, note);
  $("t-audio").src = URL.createObjectURL(file);
  const lines = [...session.items.values()].filter((item) => item.line.isConnected && item.text);
  last = { text: lines.map((item) => item.text).join("\n"), duration: seconds };
  $("t-duration").textContent = seconds.toFixed(2);
  $("record").textContent = "Record from the microphone";
  $("record").disabled = false;
  $("transcribe").disabled = false;
}

// ---------------------------------------------------------------- microphone samples

async function startCapture(stream) {
  // The microphone as 16-bit PCM, at whatever rate the audio context runs, resampled: at 24 kHz for the
  // server (`pending`, until sent) and at 16 kHz for the file kept afterwards (`kept`).
  const context = new AudioContext();
  context.resume().catch(() => {});
  const toServer = resampler(context.sampleRate, PCM_RATE);
  const toFile = resampler(context.sampleRate, FILE_RATE);
  const capture = { pending: [], kept: [], stop: null };
  const take = (samples) => {
    const sent = pcm16(toServer(samples));
    if (sent.length) capture.pending.push(sent);
    const kept = pcm16(toFile(samples));
    if (kept.length) capture.kept.push(kept);
  };
  let node = null;
  let flush = () => Promise.resolve();
  try {
    const source = context.createMediaStreamSource(stream);
    if (context.audioWorklet && window.AudioWorkletNode) {
      try {
        await context.audioWorklet.addModule("/static/capture.js");
        const options = { channelCount: 1, channelCountMode: "explicit", numberOfOutputs: 1, outputChannelCount: [1] };
        const worklet = new AudioWorkletNode(context, "capture", options);
        let flushed = () => {};
        worklet.port.onmessage = (event) => (event.data === "flushed" ? flushed() : take(event.data));
        flush = () =>
          new Promise((resolve) => {
            flushed = resolve;
            worklet.port.postMessage("flush");
            setTimeout(resolve, 300);
          });
        node = worklet;
      } catch {
        node = null;
      }
    }
    if (!node) {
      // Where there is no AudioWorklet: the older ScriptProcessor, on the page's own thread.
      node = context.createScriptProcessor(4096, 1, 1);
      node.onaudioprocess = (event) => {
        take(event.inputBuffer.getChannelData(0));
        event.outputBuffer.getChannelData(0).fill(0);
      };
    }
    source.connect(node);
    node.connect(context.destination); // silent (the node writes nothing), but the graph pulls only what reaches it
    let stopped = null;
    capture.stop = () =>
      (stopped ??= (async () => {
        await flush();
        source.disconnect();
        node.disconnect();
        await context.close().catch(() => {});
      })());
    return capture;
  } catch (error) {
    context.close().catch(() => {});
    throw error;
  }
}

function resampler(from, to) {
  // Linear interpolation that carries on across chunks: `at` is where the next sample falls, in samples of
  // the chunk to come (-1: the last one of the chunk before).
  const step = from / to;
  let at = 0;
  let previous = 0;
  return (input) => {
    const n = input.length;
    const out = new Float32Array(Math.max(0, Math.floor((n - 1 - at) / step) + 2)); // one spare, for rounding
    let count = 0;
    while (at <= n - 1) {
      const i = Math.floor(at);
      const a = i < 0 ? previous : input[i];
      const b = i + 1 < n ? input[i + 1] : a;
      out[count++] = a + (b - a) * (at - i);
      at += step;
    }
    if (n) {
      at -= n;
      previous = input[n - 1];
    }
    return out.subarray(0, count);
  };
}

function pcm16(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, s < 0 ? s * 32768 : s * 32767, true);
  }
  return bytes;
}

function joinBytes(chunks) {
  const joined = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.length;
  }
  return joined;
}

function base64(bytes) {
  let binary = "";
  for (let at = 0; at < bytes.length; at += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000));
  return btoa(binary);
}

function wavBlob(chunks, rate) {
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const header = new DataView(new ArrayBuffer(44));
  const ascii = (at, text) => [...text].forEach((c, i) => header.setUint8(at + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  header.setUint32(4, 36 + length, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  header.setUint32(16, 16, true); // the format chunk's size
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, rate, true);
  header.setUint32(28, rate * 2, true); // bytes a second
  header.setUint16(32, 2, true); // bytes a frame
  header.setUint16(34, 16, true); // bits a sample
  ascii(36, "data");
  header.setUint32(40, length, true);
  return new Blob([header, ...chunks], { type: "audio/wav" });
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
