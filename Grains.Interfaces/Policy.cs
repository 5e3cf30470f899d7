using System.Collections.Immutable;

namespace ShopAstro.Grains.Interfaces;

[GenerateSerializer]
public enum StoreStatus
{
    Active = 0,
    Suspended = 1,
}

[GenerateSerializer, Immutable, Alias("shopastro.PurposeSetting")]
public sealed record PurposeSetting(
    [property: Id(0)] bool Enabled,
    [property: Id(1)] bool MaterialChange);

/// <summary>A store's current policy as every decision sees it.</summary>
/// <param name="MaterialChangeVersions">
/// Per purpose, the latest policy version that changed its meaning materially: grants given under an
/// older version need to be renewed (rule 9).
/// </param>
[GenerateSerializer, Immutable, Alias("shopastro.StorePolicy")]
public sealed record StorePolicy(
    [property: Id(0)] int Version,
    [property: Id(1)] StoreStatus Status,
    [property: Id(2)] bool SellerAttestation,
    [property: Id(3)] ImmutableDictionary<Purpose, PurposeSetting> Purposes,
    [property: Id(4)] ImmutableDictionary<Purpose, int> MaterialChangeVersions,
    [property: Id(5)] DateTimeOffset PublishedAt,
    [property: Id(6)] DateTimeOffset? EffectiveAt = null)
{
    /// <summary>When this version governs decisions: its <see cref="EffectiveAt"/> if scheduled, else its publication.</summary>
    public DateTimeOffset InForceFrom => EffectiveAt ?? PublishedAt;

    public bool Uses(Purpose purpose) => Purposes.TryGetValue(purpose, out var setting) && setting.Enabled;

    public int MaterialChangeVersionOf(Purpose purpose) =>
        MaterialChangeVersions.TryGetValue(purpose, out var version) ? version : 0;

    /// <summary>
    /// Whether this copy replaces <paramref name="held"/>: a higher version, or the same version published later
    /// (only committed policies are handed out, so a version is normally published once; the time breaks the tie
    /// should two copies of one version ever meet, in favour of the later publish).
    /// </summary>
    public bool Supersedes(StorePolicy? held) =>
        held is null || Version > held.Version || (Version == held.Version && PublishedAt > held.PublishedAt);

    /// <summary>Whether <paramref name="stamp"/> names this version (see <see cref="PolicyStamp"/>).</summary>
    public bool IsNamedBy(PolicyStamp? stamp) => stamp is { } named && named.Version == Version && named.PublishedAt == PublishedAt;
}

/// <summary>
/// Names a committed policy version that a lease holder already has, so that a lease of the same version need not
/// carry it. Only committed versions are handed out and a version is committed once (a later publish of the same
/// number is refused as not increasing), so version and publish time name one content.
/// </summary>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyStamp")]
public readonly record struct PolicyStamp(
    [property: Id(0)] int Version,
    [property: Id(1)] DateTimeOffset PublishedAt)
{
    public static PolicyStamp? Of(StorePolicy? policy) => policy is null ? null : new PolicyStamp(policy.Version, policy.PublishedAt);
}

/// <summary>A new policy version as the seller publishes it.</summary>
/// <param name="EffectiveAt">When it takes effect; null: at once.</param>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyUpdate")]
public sealed record PolicyUpdate(
    [property: Id(0)] int Version,
    [property: Id(1)] StoreStatus Status,
    [property: Id(2)] bool SellerAttestation,
    [property: Id(3)] ImmutableDictionary<Purpose, PurposeSetting> Purposes,
    [property: Id(4)] DateTimeOffset? EffectiveAt = null)
{
    public bool HasMaterialChange => Purposes.Values.Any(setting => setting.MaterialChange);
}

[GenerateSerializer]
public enum PolicyPublishStatus
{
    Published = 0,
    VersionNotIncreasing = 1,
    SellerAttestationRequired = 2,

    /// <summary>A material change of a published policy, not announced <c>Policy:MaterialNoticePeriod</c> ahead (§7).</summary>
    NoticePeriodRequired = 3,

    /// <summary>Scheduled closer than a policy lease ahead: copies handed out before it could outlive the change.</summary>
    EffectiveAtTooSoon = 4,

    /// <summary>Would take effect before a version scheduled earlier: versions take effect in order.</summary>
    EffectiveBeforeScheduled = 5,
}

/// <param name="Policy">The version published, or on a refusal the latest version (in force or scheduled).</param>
/// <param name="Earliest">On a refusal for timing: the earliest instant the version could take effect.</param>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyPublishResult")]
public sealed record PolicyPublishResult(
    [property: Id(0)] PolicyPublishStatus Status,
    [property: Id(1)] StorePolicy? Policy,
    [property: Id(2)] DateTimeOffset? Earliest = null);

/// <summary>The policy in force and the versions scheduled to take effect later, soonest first.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyView")]
public sealed record PolicyView(
    [property: Id(0)] StorePolicy? Current,
    [property: Id(1)] ImmutableList<StorePolicy> Upcoming);

[GenerateSerializer]
public enum PolicyCancelStatus
{
    Cancelled = 0,
    NotScheduled = 1,

    /// <summary>Less than a policy lease before it takes effect: copies of it may already be handed out.</summary>
    TooLate = 2,
}

/// <summary>The store's policy as a subject grain holds it, valid until the lease runs out.</summary>
/// <param name="Policy">
/// The version in force; null when none is, or when it is the one the request named: the holder keeps its copy
/// (a copy is replaced only by a superseding version, so the two cases need no telling apart).
/// </param>
/// <param name="Duration">How long the holder may rely on <paramref name="Policy"/> without hearing from the store.</param>
/// <param name="AbsentViewFor">
/// How long from now an edge may still decide the subject as one without a record (the store repaired its index
/// and could not tell every absence-lease holder).
/// </param>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyLease")]
public sealed record PolicyLease(
    [property: Id(0)] StorePolicy? Policy,
    [property: Id(1)] TimeSpan Duration,
    [property: Id(2)] TimeSpan AbsentViewFor = default);

/// <summary>What publishing a draft version would do to the subjects with a stored record (an impact preview).</summary>
/// <param name="Current">The version in force the draft is compared with; null if none.</param>
/// <param name="Draft">The draft as it would be stored; null when it is refused (see <paramref name="Status"/>).</param>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyDraft")]
public sealed record PolicyDraft(
    [property: Id(0)] PolicyPublishStatus Status,
    [property: Id(1)] StorePolicy? Current,
    [property: Id(2)] StorePolicy? Draft,
    [property: Id(3)] StorePolicy? Latest);

/// <summary>Per purpose, subjects with a record whose decision (without browser signals) the draft would change.</summary>
/// <param name="NeedReconsent">Would answer <c>reconsent_required</c> under the draft.</param>
/// <param name="NewlyNeedReconsent">Of those, the ones allowed by their grant under the version in force.</param>
/// <param name="LoseGrant">Allowed by their grant now, not under the draft for another reason (the purpose disabled).</param>
[GenerateSerializer, Immutable, Alias("shopastro.PurposeImpact")]
public readonly record struct PurposeImpact(
    [property: Id(0)] long NeedReconsent,
    [property: Id(1)] long NewlyNeedReconsent,
    [property: Id(2)] long LoseGrant);

/// <param name="SubjectsWithRecord">Rows read: every subject of the store with a stored record (tombstones included).</param>
/// <param name="Took">How long the read and the evaluation took in the cluster.</param>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyImpact")]
public sealed record PolicyImpact(
    [property: Id(0)] long SubjectsWithRecord,
    [property: Id(1)] ImmutableDictionary<Purpose, PurposeImpact> Purposes,
    [property: Id(2)] TimeSpan Took);
