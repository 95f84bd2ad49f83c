// The page's microphone capture, on the audio thread: the samples it hears (mono, at the context's own
// rate), handed to the page in blocks of about 40 ms. "flush" hands over what is left, then "flushed".
"use strict";

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(Math.max(128, Math.round(sampleRate * 0.04)));
    this.filled = 0;
    this.port.onmessage = (event) => {
      if (event.data !== "flush") return;
      if (this.filled) this.port.postMessage(this.block.slice(0, this.filled));
      this.filled = 0;
      this.port.postMessage("flushed");
    };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0]; // the node takes one channel: the browser mixes down
    if (!channel) return true;
    let at = 0;
    while (at < channel.length) {
      const take = Math.min(channel.length - at, this.block.length - this.filled);
      this.block.set(channel.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === this.block.length) {
        this.port.postMessage(this.block.slice());
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("capture", Capture);
