// Live transcription with the official `openai` Node package: its GA realtime client over wss://.
//
//   node realtime.mjs BASE_URL MODEL PCM_FILE [EXPECTED_TURNS]
//
// BASE_URL is the server's OpenAI-compatible root (https://127.0.0.1:PORT/oai/v1; the client dials
// wss://…/realtime?intent=transcription from it), PCM_FILE raw 24 kHz 16-bit little-endian mono PCM.
// The arguments may come from REALTIME_BASE_URL, REALTIME_MODEL, REALTIME_PCM and REALTIME_TURNS instead.
// A self-signed server certificate is trusted through NODE_EXTRA_CA_CERTS, never by turning checks off.
//
// Prints one JSON line, {"transcripts": [...], "deltas": {item: text}, "events": [[type, item], ...]}
// (transcripts in the order they completed, events every server event's type and item id in the order
// received), and exits 0 once EXPECTED_TURNS (default 1) transcripts completed; 1 on an error event,
// a transport error, the socket closing early, or after TIMEOUT_MS.

import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const [baseURL, model, pcmPath, turns] = [
  process.argv[2] ?? process.env.REALTIME_BASE_URL,
  process.argv[3] ?? process.env.REALTIME_MODEL,
  process.argv[4] ?? process.env.REALTIME_PCM,
  Number(process.argv[5] ?? process.env.REALTIME_TURNS ?? 1),
];
if (!baseURL || !model || !pcmPath || !(turns >= 1)) {
  console.error('usage: node realtime.mjs BASE_URL MODEL PCM_FILE [EXPECTED_TURNS]');
  process.exit(2);
}

const TIMEOUT_MS = Number(process.env.REALTIME_TIMEOUT_MS ?? 60000);
const CHUNK = 24000; // bytes: 0.5 s of 24 kHz 16-bit mono
const pcm = readFileSync(pcmPath);

const transcripts = [];
const deltas = {};
const events = [];
let finished = false;

function finish(code, why) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  console.log(JSON.stringify({ transcripts, deltas, events }));
  if (why) console.error(why);
  rt.close();
  // Exit once stdout has been written out; the socket's close is not waited for.
  process.stdout.write('', () => process.exit(code));
}

const client = new OpenAI({ apiKey: 'unused', baseURL });
const rt = new OpenAIRealtimeWS({ intent: 'transcription' }, client);
const timer = setTimeout(() => finish(1, `timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS);

rt.on('event', (event) => {
  events.push([event.type, event.item_id ?? event.item?.id ?? null]);
});

// API error events and transport failures (a refused certificate among them) both come here.
rt.on('error', (error) => {
  finish(1, `error: ${error.message}${error.cause ? ` (${error.cause.code ?? error.cause.message})` : ''}`);
});

rt.socket.on('close', (code, reason) => {
  finish(1, `the socket closed before ${turns} transcripts: ${code} ${reason}`);
});

rt.on('session.created', () => {
  rt.send({
    type: 'session.update',
    session: {
      type: 'transcription',
      audio: {
        input: {
          transcription: { model },
          turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 700 },
        },
      },
    },
  });
});

let sent = false;
rt.on('session.updated', () => {
  if (sent) return;
  sent = true;
  // Faster than real time: 0.5 s of audio a message, all at once.
  for (let start = 0; start < pcm.length; start += CHUNK) {
    rt.send({ type: 'input_audio_buffer.append', audio: pcm.subarray(start, start + CHUNK).toString('base64') });
  }
});

rt.on('conversation.item.input_audio_transcription.delta', (event) => {
  deltas[event.item_id] = (deltas[event.item_id] ?? '') + (event.delta ?? '');
});

rt.on('conversation.item.input_audio_transcription.completed', (event) => {
  transcripts.push({ item_id: event.item_id, transcript: event.transcript });
  if (transcripts.length >= turns) finish(0);
});
