// A chat bot written only with the official Node SDK (npm `dingtalk-stream`), as its README and example
// use it, plus the open-API calls a Node bot makes with axios for what the SDK leaves to it (cards,
// robot send, media). Its code names DingTalk's real hosts; under the harness the preload module
// (NODE_OPTIONS=--require <harness platform --node-preload>, set by `harness run` for a command
// target) sends them to the emulator. Run it as a harness target:
//
//   [target]
//   kind = "command"
//   command = ["node", "tests/sdk_bots/node_bot.mjs"]
//
// It answers each text message with "echo: <text>" by one reply path, in turn (SDK_BOT_MODE names one
// to use only that path): text, markdown, actionCard (session webhook), robot_send (one-to-one
// batchSend or group send), ai_card (createAndDeliver, streaming append / isFull / isFinalize, then
// finish the card: PUT flowStatus 3 after finalize), card_instance (create, deliver, finalize; a card's
// outTrackId is the message's msgId, which ties it to the message even while others are answered), media
// (upload to the old API, then a text reply naming the media id). Tokens: the SDK's getAccessToken
// (the old API's /gettoken) and the OAuth2 route, used in turn. Every callback is ACKed with
// socketCallBackResponse after its reply, as the SDK's example does; events and pings the SDK ACKs.

import { DWClient, EventAck, TOPIC_CARD, TOPIC_ROBOT } from "dingtalk-stream";
import axios from "axios";
import { randomUUID } from "node:crypto";

const API = "https://api.dingtalk.com";
const OAPI = "https://oapi.dingtalk.com";
const MODES = ["text", "markdown", "actionCard", "robot_send", "ai_card", "card_instance", "media"];
const AI_CARD_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema";
const clientId = process.env.DINGTALK_CLIENT_ID;
const clientSecret = process.env.DINGTALK_CLIENT_SECRET;
const only = process.env.SDK_BOT_MODE || "";
if (only && !MODES.includes(only)) {
  console.error(`SDK_BOT_MODE must be one of ${MODES.join(", ")}, got ${only}`);
  process.exit(2);
}

const client = new DWClient({ clientId, clientSecret });
let turn = 0;
let oauth = { token: "", expires: 0 };

// The two token routes, in turn: the SDK's own (old API) and the OAuth2 one.
async function accessToken() {
  turn += 1;
  if (turn % 2 === 0) return client.getAccessToken();
  if (Date.now() < oauth.expires) return oauth.token;
  const { data } = await axios.post(`${API}/v1.0/oauth2/accessToken`, { appKey: clientId, appSecret: clientSecret });
  oauth = { token: data.accessToken, expires: Date.now() + (data.expireIn - 300) * 1000 };
  return oauth.token;
}

async function call(method, url, data, token) {
  const headers = { "x-acs-dingtalk-access-token": token ?? (await accessToken()) };
  return axios({ method, url, data, headers });
}

function openSpaceId(msg) {
  return msg.conversationType === "2"
    ? `dtv1.card//IM_GROUP.${msg.conversationId}`
    : `dtv1.card//IM_ROBOT.${msg.senderStaffId}`;
}

const replies = {
  text: (msg, answer) => call("POST", msg.sessionWebhook, { msgtype: "text", text: { content: answer } }),
  markdown: (msg, answer) =>
    call("POST", msg.sessionWebhook, { msgtype: "markdown", markdown: { title: "echo", text: answer } }),
  actionCard: (msg, answer) =>
    call("POST", msg.sessionWebhook, {
      msgtype: "actionCard",
      actionCard: { title: "echo", text: answer, singleTitle: "More", singleURL: "https://open.dingtalk.com" },
    }),
  robot_send: (msg, answer) => {
    const body = { robotCode: clientId, msgKey: "sampleText", msgParam: JSON.stringify({ content: answer }) };
    return msg.conversationType === "2"
      ? call("POST", `${API}/v1.0/robot/groupMessages/send`, { ...body, openConversationId: msg.conversationId })
      : call("POST", `${API}/v1.0/robot/oToMessages/batchSend`, { ...body, userIds: [msg.senderStaffId] });
  },
  ai_card: async (msg, answer) => {
    const outTrackId = msg.msgId; // the card's id is the bot's choice: the message's id ties them together
    const stream = (content, isFull, isFinalize) =>
      call("PUT", `${API}/v1.0/card/streaming`, { outTrackId, guid: randomUUID(), key: "msgContent", content, isFull, isFinalize, isError: false });
    await call("POST", `${API}/v1.0/card/instances/createAndDeliver`, {
      cardTemplateId: AI_CARD_TEMPLATE,
      outTrackId,
      cardData: { cardParamMap: { flowStatus: "1" } },
      openSpaceId: openSpaceId(msg),
      imGroupOpenDeliverModel: { robotCode: clientId },
      imRobotOpenDeliverModel: { spaceType: "IM_ROBOT" },
    });
    await stream(answer.slice(0, 6), false, false);
    await stream(answer, true, false);
    await stream(answer, true, true);
    return call("PUT", `${API}/v1.0/card/instances`, {
      outTrackId,
      cardData: { cardParamMap: { flowStatus: "3", msgContent: answer } },
    });
  },
  card_instance: async (msg, answer) => {
    const outTrackId = msg.msgId;
    await call("POST", `${API}/v1.0/card/instances`, {
      cardTemplateId: AI_CARD_TEMPLATE,
      outTrackId,
      cardData: { cardParamMap: { flowStatus: "1" } },
    });
    await call("POST", `${API}/v1.0/card/instances/deliver`, { outTrackId, openSpaceId: openSpaceId(msg), userIdType: 1 });
    return call("PUT", `${API}/v1.0/card/streaming`, { outTrackId, guid: randomUUID(), key: "msgContent", content: answer, isFull: true, isFinalize: true });
  },
  media: async (msg, answer) => {
    const form = new FormData();
    form.append("type", "image");
    form.append("media", new Blob([Buffer.from("89504e470d0a1a0a", "hex")], { type: "image/png" }), "echo.png");
    const token = await client.getAccessToken();
    const { data } = await axios.post(`${OAPI}/media/upload?access_token=${encodeURIComponent(token)}`, form);
    if (data.errcode !== 0) throw new Error(`media upload refused: errcode ${data.errcode} ${data.errmsg}`);
    return call("POST", msg.sessionWebhook, { msgtype: "text", text: { content: `${answer} (${data.media_id})` } });
  },
};

let next = 0;
client
  .registerCallbackListener(TOPIC_ROBOT, async (res) => {
    const msg = JSON.parse(res.data);
    const mode = only || MODES[next++ % MODES.length];
    try {
      const result = await replies[mode](msg, `echo: ${msg.text?.content?.trim() ?? ""}`);
      console.log(`answered ${msg.msgId} by ${mode}`);
      client.socketCallBackResponse(res.headers.messageId, result.data);
    } catch (err) {
      console.error(`reply by ${mode} failed: ${err.response?.status ?? ""} ${JSON.stringify(err.response?.data ?? err.message)}`);
    }
  })
  .registerCallbackListener(TOPIC_CARD, (res) => {
    const click = JSON.parse(res.data);
    const params = JSON.parse(click.content || "{}").cardPrivateData?.params ?? {};
    client.socketCallBackResponse(res.headers.messageId, { cardData: { cardParamMap: { clicked: JSON.stringify(params) } } });
  })
  .registerAllEventListener(() => ({ status: EventAck.SUCCESS }))
  .connect();
