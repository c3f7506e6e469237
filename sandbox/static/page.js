// The chat page of `riverbot try`: plain JavaScript against the stand-in's /api (sandbox/chatpage.py).
"use strict";
const state = { strings: {}, lang: "zh", world: null, person: null, chat: null, version: "", poll: 0, box: null };
const $ = (id) => document.getElementById(id);

function t(key, params) {
  let text = (state.strings[state.lang] || {})[key] || key;
  for (const [name, value] of Object.entries(params || {})) text = text.replace("{" + name + "}", value);
  return text;
}

function translate() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  fillPeople();
}

async function api(path, body) {
  const options = body === undefined ? {} : body instanceof FormData
    ? { method: "POST", body } : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  if (!response.ok) {
    const reason = await response.text();
    $("error").hidden = false;
    $("error").textContent = t("error", { reason });
    throw new Error(reason);
  }
  $("error").hidden = true;
  return response.json();
}

function fillPeople() {
  if (!state.world) return;
  const select = $("person");
  select.replaceChildren(...state.world.people.map((p) => {
    const option = new Option(`${t("role_" + p.key)}: ${p.name}`, p.key);
    option.dataset.person = p.key;
    return option;
  }));
  select.value = state.person;
  fillChats();
}

function fillChats() {
  const person = state.world.people.find((p) => p.key === state.person);
  const select = $("chat");
  select.replaceChildren(...person.chats.map((c) => {
    const option = new Option(c.type === "group" ? `${t("group")}: ${c.title}` : c.title, String(c.id));
    option.dataset.chat = String(c.id);
    option.dataset.chatType = c.type;
    return option;
  }));
  if (!person.chats.some((c) => String(c.id) === String(state.chat))) state.chat = String(person.chats[0].id);
  select.value = state.chat;
}

function switchTo(person, chat) {
  state.person = person;
  state.chat = chat;
  state.version = "";
  fillPeople();
  localStorage.setItem("riverbot-try", JSON.stringify({ person: state.person, chat: state.chat, lang: state.lang }));
  $("messages").replaceChildren();
  poll();
}

const SAFE_TAGS = new Set(["B", "STRONG", "I", "EM", "U", "INS", "S", "STRIKE", "DEL", "CODE", "PRE", "A", "BLOCKQUOTE", "TG-SPOILER", "SPAN", "BR"]);
function safeHtml(html) {
  // Telegram's HTML subset only: anything else is shown as its text.
  const template = document.createElement("template");
  template.innerHTML = html.replace(/\n/g, "<br>");
  const clean = (node) => {
    for (const child of [...node.childNodes]) {
      if (child.nodeType === Node.ELEMENT_NODE) {
        if (!SAFE_TAGS.has(child.tagName)) { child.replaceWith(document.createTextNode(child.textContent)); continue; }
        for (const attr of [...child.attributes]) if (!(child.tagName === "A" && attr.name === "href")) child.removeAttribute(attr.name);
        if (child.tagName === "A" && !/^(https?:|tg:)/.test(child.getAttribute("href") || "")) child.removeAttribute("href");
        clean(child);
      }
    }
  };
  clean(template.content);
  return template.content;
}

function render(feed) {
  const box = $("messages");
  const me = state.world.people.find((p) => p.key === state.person);
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
  const items = [];
  let album = null;  // an album's photos share one bubble, as Telegram shows them
  for (const m of feed.messages) {
    if (m.album && album && album.dataset.album === m.album && m.photo) {
      const img = document.createElement("img");
      img.src = "/api/file/" + encodeURIComponent(m.photo);
      img.dataset.photo = m.photo;
      album.querySelector(".meta").before(img);
      continue;
    }
    const div = bubble(m, me);
    album = m.album ? div : null;
    if (m.album) div.dataset.album = m.album;
    items.push(div);
  }
  function bubble(m, me) {
    const div = document.createElement("div");
    div.className = "message" + (m.from.id === me.id ? " mine" : "");
    div.dataset.messageId = m.id;
    div.dataset.from = m.from.bot ? "bot" : String(m.from.id);
    if (m.from.id !== me.id) {
      const sender = document.createElement("div");
      sender.className = "sender";
      sender.textContent = m.from.name;
      div.append(sender);
    }
    if (m.photo) {
      const img = document.createElement("img");
      img.src = "/api/file/" + encodeURIComponent(m.photo);
      img.dataset.photo = m.photo;
      div.append(img);
    }
    if (m.document) {
      const link = document.createElement("a");
      link.href = "/api/file/" + encodeURIComponent(m.document.file_id);
      link.download = m.document.name;
      link.textContent = `📎 ${m.document.name} (${t("download")})`;
      link.dataset.document = m.document.name;
      div.append(link);
    }
    if (m.location) {
      const p = document.createElement("div");
      p.className = "location";
      p.dataset.location = `${m.location.latitude},${m.location.longitude}`;
      const title = m.venue ? `📍 ${m.venue.title}\n${m.venue.address}\n` : `📍 ${t(m.location.live ? "live_location" : "location_label")} `;
      p.textContent = `${title}${m.location.latitude.toFixed(5)}, ${m.location.longitude.toFixed(5)}`;
      div.append(p);
    }
    if (m.text) {
      const body = document.createElement("div");
      body.className = "text";
      if (m.html) body.append(safeHtml(m.html)); else body.textContent = m.text;
      div.append(body);
    }
    if (m.buttons) {
      const grid = document.createElement("div");
      grid.className = "buttons";
      for (const row of m.buttons) {
        const line = document.createElement("div");
        for (const b of row) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = b.text;
          if (b.data) {
            button.dataset.callback = b.data;
            button.onclick = () => api("/api/press", { as: state.person, chat: state.chat, message_id: m.id, data: b.data });
          } else if (b.url) {
            button.onclick = () => window.open(b.url, "_blank", "noopener");
          }
          line.append(button);
        }
        grid.append(line);
      }
      div.append(grid);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = (m.edited ? t("edited") + " " : "") + new Date(m.date * 1000).toLocaleTimeString();
    div.append(meta);
    return div;
  }
  if (!items.length) {
    const empty = document.createElement("p");
    empty.id = "empty";
    empty.textContent = t("nothing");
    items.push(empty);
  }
  box.replaceChildren(...items);
  if (atBottom || !state.rendered) box.scrollTop = box.scrollHeight;
  state.rendered = true;
  const keyboard = $("keyboard");
  keyboard.replaceChildren(...feed.keyboard.map((row) => {
    const line = document.createElement("div");
    for (const text of row) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = text;
      button.dataset.key = text;
      button.onclick = () => api("/api/send", { as: state.person, chat: state.chat, text });
      line.append(button);
    }
    return line;
  }));
}

async function poll() {
  // One long poll at a time: switching chats aborts the previous one (browsers allow few connections a host).
  const mine = ++state.poll;
  if (state.abort) state.abort.abort();
  const controller = state.abort = new AbortController();
  while (mine === state.poll) {
    try {
      const query = new URLSearchParams({ as: state.person, chat: state.chat, version: state.version });
      const response = await fetch("/api/messages?" + query, { signal: controller.signal });
      if (!response.ok) throw new Error(await response.text());
      const feed = await response.json();
      if (mine !== state.poll) return;
      state.version = feed.version;
      document.body.dataset.version = feed.version;
      render(feed);
    } catch (error) {
      if (mine !== state.poll) return;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

function linesOf(geometry) {
  if (!geometry) return [];
  return geometry.type === "LineString" ? [geometry.coordinates] : geometry.type === "MultiLineString" ? geometry.coordinates : [];
}

function drawMap(geojson) {
  const svg = $("map");
  const points = geojson.features.flatMap((f) => linesOf(f.geometry).flat());
  const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
  const box = { w: Math.min(...lons), e: Math.max(...lons), s: Math.min(...lats), n: Math.max(...lats) };
  const pad = 0.01, W = 600, H = 360;
  box.w -= pad; box.e += pad; box.s -= pad; box.n += pad;
  state.box = box;
  const x = (lon) => ((lon - box.w) / (box.e - box.w)) * W;
  const y = (lat) => ((box.n - lat) / (box.n - box.s)) * H;
  const ns = "http://www.w3.org/2000/svg";
  for (const f of geojson.features) {
    for (const coordinates of linesOf(f.geometry)) {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", coordinates.map(([lon, lat]) => `${x(lon).toFixed(1)},${y(lat).toFixed(1)}`).join(" "));
      line.dataset.reach = f.properties.code;
      const title = document.createElementNS(ns, "title");
      title.textContent = `${f.properties.code} ${f.properties.name_zh}`;
      line.append(title);
      svg.append(line);
    }
    if (linesOf(f.geometry).length) $("walk-reach").append(new Option(`${f.properties.code} ${f.properties.name_zh}`, f.properties.code));
  }
  svg.addEventListener("click", (event) => {
    const rect = svg.getBoundingClientRect();
    const lon = box.w + ((event.clientX - rect.left) / rect.width) * (box.e - box.w);
    const lat = box.n - ((event.clientY - rect.top) / rect.height) * (box.n - box.s);
    $("latitude").value = lat.toFixed(6);
    $("longitude").value = lon.toFixed(6);
    api("/api/location", { as: state.person, chat: state.chat, latitude: lat, longitude: lon });
  });
}

async function main() {
  state.strings = await api("/api/strings");
  state.world = await api("/api/world");
  // ?as=village&chat=123&lang=en in the address wins over what this browser saw last (links, browser tests).
  const saved = JSON.parse(localStorage.getItem("riverbot-try") || "{}");
  const params = new URLSearchParams(window.location.search);
  for (const [name, key] of [["as", "person"], ["chat", "chat"], ["lang", "lang"]]) if (params.get(name)) saved[key] = params.get(name);
  state.lang = saved.lang || state.world.language;
  state.person = saved.person && state.world.people.some((p) => p.key === saved.person) ? saved.person : state.world.people[0].key;
  state.chat = saved.chat || "";
  for (const name of state.world.samples) $("photo-sample").append(new Option(name, name));
  translate();
  $("person").onchange = () => switchTo($("person").value, "");
  $("chat").onchange = () => switchTo(state.person, $("chat").value);
  $("language").onclick = () => { state.lang = state.lang === "zh" ? "en" : "zh"; translate(); switchTo(state.person, state.chat); };
  $("composer").onsubmit = (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (text) api("/api/send", { as: state.person, chat: state.chat, text }).then(() => { $("text").value = ""; });
  };
  $("photo-form").onsubmit = (event) => {
    event.preventDefault();
    const form = new FormData();
    form.set("as", state.person);
    form.set("chat", state.chat);
    form.set("mode", $("photo-as-file").checked ? "file" : "photo");
    if ($("photo-file").files.length) form.set("file", $("photo-file").files[0]);
    else if ($("photo-sample").value) form.set("sample", $("photo-sample").value);
    else return;
    api("/api/photo", form).then(() => { $("photo-file").value = ""; });
  };
  $("location-form").onsubmit = (event) => {
    event.preventDefault();
    api("/api/location", { as: state.person, chat: state.chat, latitude: Number($("latitude").value), longitude: Number($("longitude").value) });
  };
  $("walk-form").onsubmit = async (event) => {
    event.preventDefault();
    $("walk-status").textContent = t("walking");
    $("walk-status").dataset.walk = "walking";
    try {
      await api("/api/walk", { as: state.person, chat: state.chat, reach: $("walk-reach").value,
        speed_kmh: Number($("walk-speed").value), seconds: Math.round(Number($("walk-minutes").value) * 60), wait: true });
      $("walk-status").textContent = t("walk_done");
      $("walk-status").dataset.walk = "done";
    } catch (error) {
      $("walk-status").textContent = "";
      $("walk-status").dataset.walk = "refused";
    }
  };
  drawMap(await api("/api/map"));
  switchTo(state.person, state.chat);
}

main();
