// One card per photo: its preview, its state, the before/after compare slider, its actions.

const RANK = { queued: 0, processing: 1, failed: 2, completed: 3 };

export function stemOf(name) {
  const base = (name || "photo").split(/[\\/]/).pop();
  const dot = base.lastIndexOf(".");
  return (dot > 0 ? base.slice(0, dot) : base) || "photo";
}

export function download(url, filename) {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
}

export class Card {
  constructor(template, name) {
    this.el = template.content.firstElementChild.cloneNode(true);
    this.name = name;
    this.id = null;
    this.taskId = null;
    this.progress = null;
    this.state = "ready";
    this.format = "png";
    this.urls = [];
    this.cutoutUrl = null;
    this.q = (selector) => this.el.querySelector(selector);
    this.q(".name").textContent = name;
    this.range = this.q(".compare-range");
    this.range.setAttribute("aria-label", `Compare original and cut-out of ${name}`);
    this.range.addEventListener("input", () => this.setPosition(this.range.value));
    this.q(".before").alt = `Original: ${name}`;
    this.q(".after").alt = `Cut-out: ${name}`;
    this.setPosition(50);
  }

  objectUrl(blob) {
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    return url;
  }

  showOriginal(blob) {
    const before = this.q(".before");
    before.addEventListener("error", () => {
      before.hidden = true;
      this.q(".no-preview").hidden = false;
    });
    before.src = this.objectUrl(blob);
  }

  setPosition(value) {
    const pos = Math.max(0, Math.min(100, Number(value)));
    this.q(".compare").style.setProperty("--pos", `${pos}%`);
    this.range.setAttribute("aria-valuetext", `${Math.round(pos)}% original, ${100 - Math.round(pos)}% cut-out`);
  }

  set(state, status, detail = "") {
    this.state = state;
    this.el.dataset.state = state;
    this.q(".status").textContent = status;
    this.q(".detail").textContent = detail;
    const busy = ["uploading", "waiting", "queued", "processing"].includes(state);
    this.q(".busy").hidden = !busy;
    this.q("article").setAttribute("aria-busy", String(busy));
    this.q(".retry").hidden = state !== "failed";
    const done = state === "completed";
    this.q(".download-cutout").hidden = !done;
    this.q(".download-mask").hidden = !done;
  }

  /** Whether a report moves this card forward (its task, a later attempt or state). */
  accepts(update) {
    if (this.taskId && update.taskId && update.taskId !== this.taskId) return false;
    const key = [update.status === "completed" ? 1 : 0, update.attempt || 0, RANK[update.status] ?? -1];
    const current = this.progress;
    const newer =
      !current ||
      key[0] > current[0] ||
      (key[0] === current[0] && (key[1] > current[1] || (key[1] === current[1] && key[2] > current[2])));
    if (newer) {
      this.progress = key;
      if (update.taskId) this.taskId = update.taskId;
    }
    return newer;
  }

  newTask(taskId) {
    this.taskId = taskId;
    this.progress = null;
  }

  showCutout(blob, hasOriginal) {
    this.cutoutUrl = this.objectUrl(blob);
    this.q(".after").src = this.cutoutUrl;
    this.q(".after-layer").classList.add("shown");
    if (hasOriginal) {
      this.range.hidden = false;
      this.q(".compare").classList.add("compared");
      this.setPosition(this.range.value);
    } else {
      this.q(".before").hidden = true;
      this.setPosition(0);
    }
  }

  release() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }
}
