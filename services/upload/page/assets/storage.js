// What this browser keeps: the API key and the images it uploaded (localStorage only; the
// key is never put in a URL).

const KEY = "clearcut.apiKey";
const HISTORY = "clearcut.history.";
const HISTORY_LIMIT = 50;

export function savedKey() {
  return localStorage.getItem(KEY);
}

export function saveKey(key) {
  localStorage.setItem(KEY, key);
}

export function forgetKey() {
  localStorage.removeItem(KEY);
}

/**
 * The owner's recent images. Today they come from this browser's own record; a server list
 * of the owner's images can replace `recent` without changing its callers.
 */
export class LocalHistory {
  constructor(owner) {
    this.slot = HISTORY + owner;
  }

  async recent() {
    try {
      const items = JSON.parse(localStorage.getItem(this.slot) || "[]");
      return Array.isArray(items) ? items : [];
    } catch {
      return [];
    }
  }

  async add(item) {
    const items = (await this.recent()).filter((i) => i.id !== item.id);
    items.unshift(item);
    localStorage.setItem(this.slot, JSON.stringify(items.slice(0, HISTORY_LIMIT)));
  }

  async remove(id) {
    const items = (await this.recent()).filter((i) => i.id !== id);
    localStorage.setItem(this.slot, JSON.stringify(items));
  }
}
