namespace ShopAstro.Grains;

public sealed class ConsentClusterOptions
{
    public const string Section = "Consent";

    /// <summary>
    /// How long a subject grain may answer from its copy of the store policy without hearing from the
    /// store grain. Bounds how long a policy publish can wait on a holder it cannot reach.
    /// </summary>
    public TimeSpan PolicyLease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the store grain waits for one holder to take a new policy before relying on lease expiry.</summary>
    public TimeSpan PolicyPushTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long an edge process may decide a store's subjects under its copy of the store's policy, and its subjects
    /// without a record as absent, without hearing from the store grain (a store lease). Bounds how long a policy
    /// publish waits on an edge it cannot reach. Subjects' own leases run until revoked (docs/coherence.md).
    /// </summary>
    public TimeSpan DecisionLease { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a grain waits for one edge to confirm a revocation before relying on expiry (a store lease) or having
    /// the edge expelled by the lease holder registry (a subject lease).
    /// </summary>
    public TimeSpan DecisionLeaseRevokeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>§2(3): anonymous visitors' data is deleted at most this long after it was last written.</summary>
    public TimeSpan AnonymousRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How often the retention reminder looks; data goes between <see cref="AnonymousRetention"/> minus
    /// this and <see cref="AnonymousRetention"/> after the last write, never later.
    /// </summary>
    public TimeSpan AnonymousRetentionCheck { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often open requests are checked for passing their due date (then flagged live).</summary>
    public TimeSpan RequestOverdueCheck { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Base64 key of the HMAC that turns erased subjects' ids into tokens; the same on every silo.</summary>
    public string? AnonymisationKey { get; set; }
}

public static class StorageNames
{
    /// <summary>The ADO.NET grain storage that holds consent and policy state.</summary>
    public const string Consent = "consent";
}
