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

/// <summary>
/// Proof of one choice. Receipts are append-only and form a hash chain: each carries the hash of the one
/// before it (<see cref="PreviousHash"/>) and its own (<see cref="Hash"/>), so an edited, removed or
/// re-ordered receipt is detectable.
/// </summary>
/// <param name="LinkedFrom">The anonymous subject the choice was carried over from at login, if any.</param>
[GenerateSerializer, Immutable, Alias("shopastro.ConsentReceipt")]
public sealed record ConsentReceipt(
    [property: Id(0)] string ReceiptId,
    [property: Id(1)] Purpose Purpose,
    [property: Id(2)] bool Granted,
    [property: Id(3)] int PolicyVersion,
    [property: Id(4)] ConsentSource Source,
    [property: Id(5)] bool Dnt,
    [property: Id(6)] bool Gpc,
    [property: Id(7)] DateTimeOffset At,
    [property: Id(8)] string? LinkedFrom = null,
    [property: Id(9)] string PreviousHash = "",
    [property: Id(10)] string Hash = "");

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
