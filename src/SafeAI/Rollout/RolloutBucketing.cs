using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace SafeAI;

/// <summary>
/// Sticky bucketing: SHA-256 of <c>"{key}\n{salt}"</c>, the first four bytes read as a little-endian unsigned integer,
/// scaled to [0, 100). The same key and salt give the same bucket on every machine and after every restart (the scheme
/// of Microsoft.FeatureManagement's targeting filter). Results are kept in a small lock-free cache so a returning key
/// costs a lookup, not a hash.
/// </summary>
internal sealed class RolloutBucketing
{
    private const int CacheSize = 4096;
    private readonly string _salt;
    private readonly Entry?[] _cache = new Entry?[CacheSize];

    public RolloutBucketing(string salt)
    {
        ArgumentException.ThrowIfNullOrEmpty(salt);
        _salt = salt;
    }

    /// <summary>Gets the bucket of a key, in [0, 100).</summary>
    public double GetBucket(string key)
    {
        var slot = key.GetHashCode() & (CacheSize - 1);
        var entry = Volatile.Read(ref _cache[slot]);
        if (entry is not null && string.Equals(entry.Key, key, StringComparison.Ordinal))
        {
            return entry.Bucket;
        }

        var bucket = Compute(key, _salt);
        Volatile.Write(ref _cache[slot], new Entry(key, bucket));
        return bucket;
    }

    /// <summary>Computes a key's bucket, in [0, 100), without the cache.</summary>
    public static double Compute(string key, string salt)
    {
        var length = Encoding.UTF8.GetMaxByteCount(key.Length + 1 + salt.Length);
        byte[]? rented = null;
        var buffer = length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var written = Encoding.UTF8.GetBytes(key, buffer);
            buffer[written++] = (byte)'\n';
            written += Encoding.UTF8.GetBytes(salt, buffer[written..]);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            _ = SHA256.HashData(buffer[..written], hash);
            var value = BinaryPrimitives.ReadUInt32LittleEndian(hash);
            return value / (uint.MaxValue + 1.0) * 100;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private sealed class Entry(string key, double bucket)
    {
        public string Key { get; } = key;

        public double Bucket { get; } = bucket;
    }
}
