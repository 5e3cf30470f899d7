using System.Collections.Immutable;

namespace ShopAstro.Grains.Interfaces;

[GenerateSerializer]
public enum SubjectStatus
{
    Active = 0,
    Minor = 1,
    Cancelled = 2,
    Erased = 3,
}

[GenerateSerializer]
public enum ConsentSource
{
    Banner = 0,
    AccountSettings = 1,
    Api = 2,
    Import = 3,
}

public static class ConsentSources
{
    public static string ToId(this ConsentSource source) => source switch
    {
        ConsentSource.Banner => "banner",
        ConsentSource.AccountSettings => "account_settings",
        ConsentSource.Api => "api",
        ConsentSource.Import => "import",
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, null),
    };

    public static bool TryParse(string? id, out ConsentSource source)
    {
        switch (id)
        {
            case "banner": source = ConsentSource.Banner; return true;
            case "account_settings": source = ConsentSource.AccountSettings; return true;
            case "api": source = ConsentSource.Api; return true;
            case "import": source = ConsentSource.Import; return true;
            default: source = default; return false;
        }
    }
}

public static class SubjectStatuses
{
    public static string ToId(this SubjectStatus status) => status switch
    {
        SubjectStatus.Active => "active",
        SubjectStatus.Minor => "minor",
        SubjectStatus.Cancelled => "cancelled",
        SubjectStatus.Erased => "erased",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}

/// <summary>The latest choice for one purpose, with the browser signals present when it was made (rule 8).</summary>
[GenerateSerializer, Immutable, Alias("shopastro.ConsentChoice")]
public sealed record ConsentChoice(
    [property: Id(0)] bool Granted,
    [property: Id(1)] int PolicyVersion,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] ConsentSource Source,
    [property: Id(4)] bool Dnt,
    [property: Id(5)] bool Gpc);

/// <summary>What a receipt records: a consent choice, or a change of the subject's status.</summary>
[GenerateSerializer]
public enum ReceiptEvent
{
    Consent = 0,
    MinorSet = 1,
    MinorLifted = 2,
    Cancelled = 3,
    Erased = 4,
    Linked = 5,
}

public static class ReceiptEvents
{
    public static string ToId(this ReceiptEvent receiptEvent) => receiptEvent switch
    {
        ReceiptEvent.Consent => "consent",
        ReceiptEvent.MinorSet => "minor_set",
        ReceiptEvent.MinorLifted => "minor_lifted",
        ReceiptEvent.Cancelled => "cancelled",
        ReceiptEvent.Erased => "erased",
        ReceiptEvent.Linked => "linked",
        _ => throw new ArgumentOutOfRangeException(nameof(receiptEvent), receiptEvent, null),
    };
}

/// <summary>
/// Proof of one choice or status change. Receipts are append-only and form a hash chain: each carries the hash
/// of the one before it (<see cref="PreviousHash"/>) and its own (<see cref="Hash"/>), so an edited, removed or
/// re-ordered receipt is detectable (<see cref="ReceiptChain"/>). A status receipt (<see cref="Event"/> other than
/// <see cref="ReceiptEvent.Consent"/>) says why consents disappeared or came over; its consent fields are unused.
/// </summary>
/// <param name="LinkedFrom">The anonymous subject the choice was carried over from at login, if any.</param>
/// <param name="LinkedFromNonce">
/// Random, per receipt: the chain hashes <see cref="LinkedFrom"/> only as sha256(nonce|linkedFrom), so that an
/// archived receipt can drop the visitor's id and keep a hash that still verifies. Null on receipts sealed before
/// (their chain hashes the id itself).
/// </param>
/// <param name="LinkedFromDigest">Set instead of the id and nonce once the receipt is anonymised (archived).</param>
[GenerateSerializer, Immutable, Alias("shopastro.ConsentReceipt")]
public sealed record ConsentReceipt(
    [property: Id(1)] Purpose Purpose,
    [property: Id(2)] bool Granted,
    [property: Id(3)] int PolicyVersion,
    [property: Id(4)] ConsentSource Source,
    [property: Id(5)] bool Dnt,
    [property: Id(6)] bool Gpc,
    [property: Id(7)] DateTimeOffset At,
    [property: Id(8)] string? LinkedFrom,
    [property: Id(11)] ReceiptEvent Event,
    [property: Id(12)] string? LinkedFromNonce,
    [property: Id(13)] string? LinkedFromDigest)
{
    // The id and the hashes are held as bytes when they are lower-case hex, as they are when this code makes them (see
    // HexText): a subject grain holds its receipts, and these three as text were most of a receipt's memory. They are
    // stored, sent and handed out as the same strings as before, under the same ids (HexTextCodec; see
    // ReceiptStorageFormatTests). Not primary-constructor parameters: Orleans would serialize those a second time.
    [Id(0)] private readonly HexText<Bytes16> _receiptId;
    [Id(9)] private readonly HexText<Bytes32> _previousHash;
    [Id(10)] private readonly HexText<Bytes32> _hash;

    public ConsentReceipt(
        string ReceiptId, Purpose Purpose, bool Granted, int PolicyVersion, ConsentSource Source, bool Dnt, bool Gpc, DateTimeOffset At,
        string? LinkedFrom = null, string PreviousHash = "", string Hash = "", ReceiptEvent Event = ReceiptEvent.Consent,
        string? LinkedFromNonce = null, string? LinkedFromDigest = null)
        : this(Purpose, Granted, PolicyVersion, Source, Dnt, Gpc, At, LinkedFrom, Event, LinkedFromNonce, LinkedFromDigest)
    {
        this.ReceiptId = ReceiptId;
        this.PreviousHash = PreviousHash;
        this.Hash = Hash;
    }

    public string ReceiptId { get => _receiptId.Text!; init => _receiptId = HexText<Bytes16>.From(value); }

    public string PreviousHash { get => _previousHash.Text!; init => _previousHash = HexText<Bytes32>.From(value); }

    public string Hash { get => _hash.Text!; init => _hash = HexText<Bytes32>.From(value); }

    /// <summary>A status change of the subject, sealed by <see cref="ReceiptChain.Seal"/>.</summary>
    public static ConsentReceipt ForStatus(ReceiptEvent receiptEvent, DateTimeOffset at, string? linkedFrom = null) =>
        new ConsentReceipt(Guid.CreateVersion7(at).ToString("N"), default, false, 0, default, false, false, at, Event: receiptEvent)
            .LinkedTo(linkedFrom);

    /// <summary>Names the visitor this receipt came from, with a fresh nonce (see <see cref="LinkedFromNonce"/>).</summary>
    public ConsentReceipt LinkedTo(string? anonymousSubjectId) => anonymousSubjectId is null
        ? this
        : this with { LinkedFrom = anonymousSubjectId, LinkedFromNonce = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)) };
}

/// <summary>What is known of one shopper at one store: the decision input and the access export.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.SubjectRecord")]
public sealed record SubjectRecord
{
    [Id(0)] public SubjectStatus Status { get; init; }
    [Id(1)] public ImmutableDictionary<Purpose, ConsentChoice> Consents { get; init; } = ImmutableDictionary<Purpose, ConsentChoice>.Empty;
    [Id(2)] public ImmutableList<ConsentReceipt> Receipts { get; init; } = [];
    [Id(3)] public DateTimeOffset? LastWrittenAt { get; init; }

    public static SubjectRecord Empty { get; } = new();
}

[GenerateSerializer, Immutable, Alias("shopastro.ConsentUpdate")]
public sealed record ConsentUpdate(
    [property: Id(0)] ImmutableDictionary<Purpose, bool> Purposes,
    [property: Id(1)] int PolicyVersion,
    [property: Id(2)] ConsentSource Source,
    [property: Id(3)] RequestSignals Signals);

[GenerateSerializer]
public enum ConsentWriteStatus
{
    Recorded = 0,
    StoreUnknown = 1,
    PolicyVersionAhead = 2,
    SubjectCancelled = 3,
    SubjectMinor = 4,
    NotLinkable = 5,
}

[GenerateSerializer, Immutable, Alias("shopastro.ConsentWriteResult")]
public sealed record ConsentWriteResult(
    [property: Id(0)] ConsentWriteStatus Status,
    [property: Id(1)] SubjectRecord? Record);

/// <summary>Grain keys of subjects: one shopper at one store. Store ids never contain '/'.</summary>
public static class SubjectKey
{
    public static string Of(string storeId, string subjectId) => string.Concat(storeId, "/", subjectId);

    /// <summary>
    /// The key of <see cref="Of(string, string)"/> written in <paramref name="buffer"/> when it fits, else in a new
    /// string: for lookups, which need no string of their own (e.g. <c>stackalloc char[SubjectKey.StackLength]</c>).
    /// </summary>
    public static ReadOnlySpan<char> Of(string storeId, string subjectId, Span<char> buffer)
    {
        var length = storeId.Length + 1 + subjectId.Length;
        if (length > buffer.Length)
        {
            return Of(storeId, subjectId);
        }

        storeId.CopyTo(buffer);
        buffer[storeId.Length] = '/';
        subjectId.CopyTo(buffer[(storeId.Length + 1)..]);
        return buffer[..length];
    }

    /// <summary>A buffer for <see cref="Of(string, string, Span{char})"/> that holds the key of any two valid ids (at most 128 characters each).</summary>
    public const int StackLength = 2 * 128 + 1;

    public static (string StoreId, string SubjectId) Parse(string key)
    {
        var slash = key.IndexOf('/');
        if (slash <= 0)
        {
            throw new ArgumentException($"Not a subject key: '{key}'.", nameof(key));
        }

        return (key[..slash], key[(slash + 1)..]);
    }
}
