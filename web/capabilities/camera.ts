/**
 * The `camera` capability in a browser: frames from getUserMedia, encoded as JPEG by the
 * browser. A phone that opens the PWA offers its camera this way.
 */

/** Options of {@link BrowserCamera}. */
export interface BrowserCameraOptions {
  width?: number;
  height?: number;
  /** JPEG quality, 0..1. */
  quality?: number;
  facingMode?: 'user' | 'environment';
}

/** A camera opened once and kept open; each capture grabs the current frame. */
export class BrowserCamera {
  readonly #options: BrowserCameraOptions;
  #stream: MediaStream | null = null;
  #video: HTMLVideoElement | null = null;

  constructor(options: BrowserCameraOptions = {}) {
    this.#options = options;
  }

  /** True when this browser can offer a camera at all (the user may still refuse). */
  static available(): boolean {
    return typeof navigator !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
  }

  /** Ask for the camera (prompts the user the first time). */
  async open(): Promise<void> {
    if (this.#stream) return;
    const o = this.#options;
    this.#stream = await navigator.mediaDevices.getUserMedia({
      video: { width: o.width ?? 640, height: o.height ?? 480, facingMode: o.facingMode ?? 'environment' },
      audio: false,
    });
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.srcObject = this.#stream;
    await video.play();
    this.#video = video;
  }

  /** The current frame as a JPEG. */
  async capture(): Promise<Uint8Array> {
    await this.open();
    const video = this.#video!;
    const width = video.videoWidth || this.#options.width || 640;
    const height = video.videoHeight || this.#options.height || 480;
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    if (!context) throw new Error('no 2D canvas context for camera frames');
    context.drawImage(video, 0, 0, width, height);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: this.#options.quality ?? 0.85 });
    return new Uint8Array(await blob.arrayBuffer());
  }

  /** Release the camera. */
  close(): void {
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    this.#stream = null;
    this.#video = null;
  }
}
