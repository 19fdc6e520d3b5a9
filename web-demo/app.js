// The demo page: wires the form to the captions client and renders what it reports.
import { startCaptions } from './chorus-client.js';

const form = document.querySelector('#controls');
const startButton = document.querySelector('#start');
const stopButton = document.querySelector('#stop');
const stateText = document.querySelector('#state');
const errorBox = document.querySelector('#error');
const errorText = document.querySelector('#error-text');
const finals = document.querySelector('#finals');

const STATE_WORDS = { connecting: 'connecting…', live: 'live', stopping: 'finishing…', closed: 'not connected' };
const ERROR_WORDS = {
  microphone: 'The microphone could not be used',
  server_full: 'The server is full',
  connection_lost: 'The connection was lost',
  unsupported: 'This browser cannot do that',
  server: 'The server reported a problem',
};

let captions = null;

function showState(state) {
  stateText.textContent = STATE_WORDS[state] ?? state;
  stateText.dataset.state = state;
  const busy = state === 'connecting' || state === 'live' || state === 'stopping';
  startButton.disabled = busy;
  stopButton.disabled = state !== 'live';
  for (const input of form.querySelectorAll('input')) input.disabled = busy;
}

function showError(error) {
  errorText.textContent = `${ERROR_WORDS[error.kind] ?? 'Something went wrong'}: ${error.message}.`;
  errorBox.hidden = false;
}

// Captions flow as lines: the current line grows with each final, the interim text continues
// it in grey, and an utterance's end (speech_final) starts a new line.
let line = null;
const interim = document.createElement('span');
interim.className = 'interim';

function currentLine() {
  if (line === null) {
    line = document.createElement('p');
    line.className = 'line';
    line.append(interim);
    finals.append(line);
  }
  return line;
}

/** Text placed after what the line already shows, one space between. */
function continuing(text) {
  return currentLine().querySelector('.final') ? ` ${text}` : text;
}

function showInterim(text) {
  interim.textContent = text.trim() === '' ? '' : continuing(text);
}

function addFinal(text, { latencyMs, speechFinal }) {
  interim.textContent = '';
  if (text.trim() !== '') {
    const words = document.createElement('span');
    words.className = 'final';
    words.textContent = continuing(text);
    currentLine().insertBefore(words, interim);
    if (latencyMs !== null) {
      let badge = line.querySelector('.latency');
      if (!badge) {
        badge = document.createElement('span');
        badge.className = 'latency';
        line.append(badge);
      }
      badge.textContent = `${Math.round(latencyMs)} ms`;
    }
  }
  if (speechFinal && line !== null) {
    interim.remove();
    line = null;
  }
}

async function start() {
  errorBox.hidden = true;
  const choices = new FormData(form);
  try {
    captions = await startCaptions({
      server: location.origin,
      transport: choices.get('transport'),
      // finals=utterance: a caption line's words become final together at its end (docs/protocol.md).
      params: { finals: choices.get('finals') },
      onInterim: showInterim,
      onFinal: addFinal,
      onState: showState,
      onError: showError,
    });
  } catch (error) {
    showError(error.kind ? error : { kind: 'server', message: String(error.message ?? error) });
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void start();
});
stopButton.addEventListener('click', () => void captions?.stop());
document.querySelector('#retry').addEventListener('click', () => void start());
showState('closed');
