//! The Lua scripts that make registering, leasing and ending a request atomic.

/// Checks the owner's active set (dropping lapsed leases), then adds the request and writes
/// its hash — atomically, on whichever server runs it — and, given an instance's set of
/// unended requests (KEYS[3]), adds it there too.
pub(crate) const REGISTER: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local active = redis.call('ZCARD', KEYS[1])
if active >= tonumber(ARGV[2]) then return active end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if KEYS[3] then
  redis.call('SADD', KEYS[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
return -2
";

/// Takes an active slot without a request hash (a lease for work the registry does not
/// hold): the same check as [`REGISTER`], in the same set.
pub(crate) const LEASE_SLOT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local active = redis.call('ZCARD', KEYS[1])
if active >= tonumber(ARGV[2]) then return active end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return -2
";

/// Appends the ending of a request whose server died (see
/// [`RequestRegistry::end_abandoned`]), unless its log moved on since it was read: the new
/// events, its final status, retention TTLs, its active slot released and (KEYS[4], when it
/// was registered by an instance) its entry in that instance's unended set removed.
pub(crate) const END_ABANDONED: &str = r"
if redis.call('HGET', KEYS[1], 'last_seq') ~= ARGV[1] then return 0 end
for i = 6, #ARGV, 2 do redis.call('XADD', KEYS[2], ARGV[i], 'e', ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'last_seq', ARGV[3], 'status', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[5])
if KEYS[4] then redis.call('SREM', KEYS[4], ARGV[5]) end
return 1
";
