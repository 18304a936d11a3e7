// What a Node bot written from the SDK's README does first, through the harness's preload only:
// the old-API token (getAccessToken), the gateway (getEndpoint), an axios call and a fetch to
// api.dingtalk.com. Prints one JSON line with what came back.
import { DWClient } from "dingtalk-stream";
import axios from "axios";

const client = new DWClient({ clientId: process.env.DINGTALK_CLIENT_ID, clientSecret: process.env.DINGTALK_CLIENT_SECRET });
const legacyToken = await client.getAccessToken();
await client.getEndpoint();
const oauth = await axios.post("https://api.dingtalk.com/v1.0/oauth2/accessToken", {
  appKey: process.env.DINGTALK_CLIENT_ID,
  appSecret: process.env.DINGTALK_CLIENT_SECRET,
});
const fetched = await fetch("https://oapi.dingtalk.com/gettoken?appkey=x&appsecret=y");
console.log(
  JSON.stringify({
    legacyToken: typeof legacyToken === "string" && legacyToken.length > 20,
    endpoint: client.getConfig().endpoint.endpoint,
    oauth: typeof oauth.data.accessToken === "string",
    fetchedErrcode: (await fetched.json()).errcode,
  }),
);
