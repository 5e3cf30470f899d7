using System.Buffers;
using System.Buffers.Binary;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// Text that is usually the lower-case hex of a fixed number of bytes (a receipt id, a SHA-256 hash), held in memory
/// as those bytes: 16 or 32 bytes inline instead of a string of two UTF-16 characters per byte (a receipt's id and
/// hash were about 240 bytes of every subject grain holding a grant). Any other text (empty, null, upper-case,
/// edited in storage) is kept as it is: <c>Text</c> always gives back exactly the text the value was made from, so
/// the receipt chain still sees any edit, and what is stored and handed out does not change.
/// </summary>
internal static class HexText
{
    /// <summary>Marks a value whose text is its bytes in lower-case hex (a reference no caller can pass in).</summary>
    internal static readonly string Bytes = new('#', 1);

    /// <summary>Both held as bytes (then their bytes decide), or both the same other text.</summary>
    public static bool SameForm(string? x, string? y) =>
        ReferenceEquals(x, Bytes) ? ReferenceEquals(y, Bytes) : !ReferenceEquals(y, Bytes) && string.Equals(x, y, StringComparison.Ordinal);

    /// <summary>Fills <paramref name="bytes"/> from <paramref name="text"/> if it is exactly their lower-case hex.</summary>
    public static bool TryParse(string? text, Span<byte> bytes)
    {
        if (text is null || text.Length != bytes.Length * 2)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return Convert.FromHexString(text, bytes, out _, out _) == System.Buffers.OperationStatus.Done;
    }
}

/// <summary>A 16-byte id in lower-case hex (a receipt id, a GUID in "N" format), or any other text as it is.</summary>
internal readonly struct HexId : IEquatable<HexId>
{
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly string? _other;

    private HexId(ulong high, ulong low, string? other) => (_high, _low, _other) = (high, low, other);

    public static HexId From(string? text)
    {
        Span<byte> bytes = stackalloc byte[16];
        return HexText.TryParse(text, bytes)
            ? new HexId(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]), HexText.Bytes)
            : new HexId(0, 0, text);
    }

    /// <summary>The text it was made from (null for the default value).</summary>
    public string? Text
    {
        get
        {
            if (!ReferenceEquals(_other, HexText.Bytes))
            {
                return _other;
            }

            Span<byte> bytes = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, _high);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _low);
            return Convert.ToHexStringLower(bytes);
        }
    }

    public bool Equals(HexId other) => HexText.SameForm(_other, other._other) && _high == other._high && _low == other._low;

    public override bool Equals(object? obj) => obj is HexId other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_high, _low, _other);

    public override string ToString() => Text ?? "";
}

/// <summary>A 32-byte digest in lower-case hex (a SHA-256 hash), or any other text as it is.</summary>
internal readonly struct HexDigest : IEquatable<HexDigest>
{
    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;
    private readonly string? _other;

    private HexDigest(ulong a, ulong b, ulong c, ulong d, string? other) => (_a, _b, _c, _d, _other) = (a, b, c, d, other);

    public static HexDigest From(string? text)
    {
        Span<byte> bytes = stackalloc byte[32];
        return HexText.TryParse(text, bytes)
            ? new HexDigest(
                BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
                BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]), BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]), HexText.Bytes)
            : new HexDigest(0, 0, 0, 0, text);
    }

    /// <summary>The text it was made from (null for the default value).</summary>
    public string? Text
    {
        get
        {
            if (!ReferenceEquals(_other, HexText.Bytes))
            {
                return _other;
            }

            Span<byte> bytes = stackalloc byte[32];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, _a);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _b);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[16..], _c);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[24..], _d);
            return Convert.ToHexStringLower(bytes);
        }
    }

    public bool Equals(HexDigest other) =>
        HexText.SameForm(_other, other._other) && _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is HexDigest other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_a, _b, _c, _d, _other);

    public override string ToString() => Text ?? "";
}


/// <summary>
/// <see cref="HexId"/> on the wire and in storage: exactly as the string field it replaced (Orleans' string codec, null
/// included), so records stored before read back, and what is written now is read by a build from before.
/// </summary>
[RegisterSerializer]
internal sealed class HexIdCodec : IFieldCodec<HexId>
{
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, HexId value)
        where TBufferWriter : IBufferWriter<byte> =>
        StringCodec.WriteField(ref writer, fieldIdDelta, value.Text);

    public HexId ReadValue<TInput>(ref Reader<TInput> reader, Field field) => HexId.From(StringCodec.ReadValue(ref reader, field));
}

/// <summary><see cref="HexDigest"/> on the wire and in storage, as <see cref="HexIdCodec"/>.</summary>
[RegisterSerializer]
internal sealed class HexDigestCodec : IFieldCodec<HexDigest>
{
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, HexDigest value)
        where TBufferWriter : IBufferWriter<byte> =>
        StringCodec.WriteField(ref writer, fieldIdDelta, value.Text);

    public HexDigest ReadValue<TInput>(ref Reader<TInput> reader, Field field) => HexDigest.From(StringCodec.ReadValue(ref reader, field));
}
