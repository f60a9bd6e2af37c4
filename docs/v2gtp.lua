-- V2GTP dissector for Wireshark/tshark (ISO 15118-2/-20 V2G Transfer Protocol), for captures written
-- by firmware/iso15118/capture.py or taken on a real link. Stock Wireshark has no V2GTP dissector
-- (dSPACE's dsV2Gshark plugin adds V2GTP and EXI); this one decodes the header, SDP request/response
-- and hands the EXI payload on as data. Use: wireshark -X lua_script:docs/v2gtp.lua file.pcapng
-- or copy it into ~/.local/lib/wireshark/plugins/.
local p = Proto("v2gtp", "V2G Transfer Protocol")
local types = {
  [0x8001] = "EXI (DIN/-2) or SAP (-20)", [0x8002] = "-20 Common", [0x8003] = "-20 AC",
  [0x8004] = "-20 DC", [0x8005] = "-20 ACDP", [0x8006] = "-20 WPT",
  [0x9000] = "SDP request", [0x9001] = "SDP response",
  [0x9002] = "SDP request wireless", [0x9003] = "SDP response wireless" }
local security = { [0x00] = "TLS", [0x10] = "No TLS" }
local transport = { [0x00] = "TCP", [0x10] = "UDP" }
local f = p.fields
f.version = ProtoField.uint8("v2gtp.version", "Version", base.HEX)
f.inverse = ProtoField.uint8("v2gtp.inverse", "Inverse version", base.HEX)
f.ptype = ProtoField.uint16("v2gtp.payload_type", "Payload type", base.HEX, types)
f.length = ProtoField.uint32("v2gtp.length", "Payload length")
f.sec = ProtoField.uint8("v2gtp.sdp.security", "Security", base.HEX, security)
f.tr = ProtoField.uint8("v2gtp.sdp.transport", "Transport", base.HEX, transport)
f.addr = ProtoField.ipv6("v2gtp.sdp.secc_ip", "SECC IP address")
f.port = ProtoField.uint16("v2gtp.sdp.secc_port", "SECC port")
f.exi = ProtoField.bytes("v2gtp.exi", "EXI payload")

local function one(buf, pinfo, tree)
  if buf:len() < 8 then pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT; return -1 end
  local n = buf(4, 4):uint()
  if buf:len() < 8 + n then pinfo.desegment_len = 8 + n - buf:len(); return -1 end
  local pt = buf(2, 2):uint()
  local t = tree:add(p, buf(0, 8 + n))
  t:add(f.version, buf(0, 1)); t:add(f.inverse, buf(1, 1)); t:add(f.ptype, buf(2, 2)); t:add(f.length, buf(4, 4))
  if pt == 0x9000 and n == 2 then
    t:add(f.sec, buf(8, 1)); t:add(f.tr, buf(9, 1))
  elseif pt == 0x9001 and n == 20 then
    t:add(f.addr, buf(8, 16)); t:add(f.port, buf(24, 2)); t:add(f.sec, buf(26, 1)); t:add(f.tr, buf(27, 1))
  elseif n > 0 then
    t:add(f.exi, buf(8, n))
  end
  pinfo.cols.protocol = "V2GTP"
  pinfo.cols.info = types[pt] or string.format("type 0x%04x", pt)
  return 8 + n
end

function p.dissector(buf, pinfo, tree)
  local off = 0
  while off < buf:len() do
    local used = one(buf(off):tvb(), pinfo, tree)
    if used < 0 then pinfo.desegment_offset = off; return end
    off = off + used
  end
  return off
end

local function heur(buf, pinfo, tree)
  if buf:len() < 8 or buf(0, 1):uint() ~= 0x01 or buf(1, 1):uint() ~= 0xFE then return false end
  if types[buf(2, 2):uint()] == nil then return false end
  pinfo.conversation = p
  p.dissector(buf, pinfo, tree)
  return true
end

DissectorTable.get("udp.port"):add(15118, p)
p:register_heuristic("tcp", heur)
