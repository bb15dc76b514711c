// A convergence's event stream. The browser's EventSource reconnects by itself after a dropped
// connection and sends `Last-Event-ID`, so the node replays exactly what was missed. Only when
// the node refuses the stream (an HTTP error closes an EventSource for good) does this module
// open a new one, resuming with `?after=` from the last event it saw.

import { eventsUrl } from './api.js';

const RETRY_MS = 3000;

/**
 * Subscribes to `types` of the convergence `slug`. `onEvent(type, data)` gets each event's
 * decoded `data` ({seq, convergence, id, entity}); `onState(state)` gets 'connecting', 'open'
 * (the replay is over: `ready` arrived) or 'closed'. Returns a function that stops it.
 */
export function subscribe(slug, types, onEvent, onState = () => {}) {
  let source = null;
  let lastSeq = null;
  let retry = null;
  let stopped = false;

  const open = () => {
    if (stopped) return;
    onState('connecting');
    let url = eventsUrl(slug, types);
    if (lastSeq !== null) url += `${url.includes('?') ? '&' : '?'}after=${lastSeq}`;
    source = new EventSource(url);
    source.addEventListener('ready', () => onState('open'));
    for (const type of types) {
      source.addEventListener(type, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        if (message.lastEventId) lastSeq = message.lastEventId;
        onEvent(type, data);
      });
    }
    source.addEventListener('error', () => {
      if (stopped) return;
      if (source.readyState === EventSource.CLOSED) {
        onState('closed');
        retry = setTimeout(open, RETRY_MS);
      } else {
        onState('connecting');
      }
    });
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    if (source) source.close();
  };
}
