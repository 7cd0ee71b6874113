/** Thrown when the client went away (while sending its body, or mid-stream); nothing is sent back. */
export class ClientGoneError extends Error {
  constructor() {
    super('client disconnected');
    this.name = 'ClientGoneError';
  }
}
