using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// Text that is usually the lower-case hex of a fixed number of bytes (a receipt id: <see cref="Bytes16"/>, a SHA-256
/// hash: <see cref="Bytes32"/>), held in memory as those bytes, inline, instead of a string of two UTF-16 characters
/// per byte (a receipt's id and hash were about 240 bytes of every subject grain holding a grant). Any other text
/// (empty, null, upper-case, edited in storage) is kept as it is: <see cref="Text"/> always gives back exactly the text
/// the value was made from, so the receipt chain still sees any edit, and what is stored and handed out is unchanged.
/// </summary>
internal readonly struct HexText<TBytes> : IEquatable<HexText<TBytes>>
    where TBytes : unmanaged
{
    /// <summary>Marks a value whose text is its bytes in lower-case hex (a reference no caller can pass in).</summary>
    private static readonly string HeldAsBytes = new('#', 1);

    private readonly TBytes _bytes;
    private readonly string? _other;

    private HexText(TBytes bytes, string? other) => (_bytes, _other) = (bytes, other);

    public static HexText<TBytes> From(string? text)
    {
        TBytes bytes = default;
        return IsLowerHexOf(text, MemoryMarshal.AsBytes(new Span<TBytes>(ref bytes)))
            ? new HexText<TBytes>(bytes, HeldAsBytes)
            : new HexText<TBytes>(default, text);
    }

    /// <summary>The text it was made from (null for the default value).</summary>
    public string? Text => ReferenceEquals(_other, HeldAsBytes) ? Convert.ToHexStringLower(Bytes) : _other;

    [UnscopedRef]
    private ReadOnlySpan<byte> Bytes => MemoryMarshal.AsBytes(new ReadOnlySpan<TBytes>(in _bytes));

    /// <summary>Equal exactly when their texts are: both held as bytes and the same bytes, or the same other text.</summary>
    public bool Equals(HexText<TBytes> other) => ReferenceEquals(_other, HeldAsBytes)
        ? ReferenceEquals(other._other, HeldAsBytes) && Bytes.SequenceEqual(other.Bytes)
        : !ReferenceEquals(other._other, HeldAsBytes) && string.Equals(_other, other._other, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is HexText<TBytes> other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes);
        hash.Add(_other);
        return hash.ToHashCode();
    }

    public override string ToString() => Text ?? "";

    /// <summary>Fills <paramref name="bytes"/> from <paramref name="text"/> if it is exactly their lower-case hex.</summary>
    private static bool IsLowerHexOf(string? text, Span<byte> bytes)
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

        return Convert.FromHexString(text, bytes, out _, out _) == OperationStatus.Done;
    }
}

/// <summary>16 bytes inline (a receipt id: a GUID in "N" format).</summary>
[InlineArray(16)]
internal struct Bytes16
{
    private byte _first;
}

/// <summary>32 bytes inline (a SHA-256 hash).</summary>
[InlineArray(32)]
internal struct Bytes32
{
    private byte _first;
}

/// <summary>
/// <see cref="HexText{TBytes}"/> on the wire and in storage: exactly as the string fields it replaced (Orleans' string
/// codec, null included), so records stored before read back, and what is written now is read by a build from before.
/// </summary>
[RegisterSerializer]
internal sealed class HexTextCodec<TBytes> : IFieldCodec<HexText<TBytes>>
    where TBytes : unmanaged
{
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, HexText<TBytes> value)
        where TBufferWriter : IBufferWriter<byte> =>
        StringCodec.WriteField(ref writer, fieldIdDelta, value.Text);

    public HexText<TBytes> ReadValue<TInput>(ref Reader<TInput> reader, Field field) =>
        HexText<TBytes>.From(StringCodec.ReadValue(ref reader, field));
}

