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
    [property: Id(5)] DateTimeOffset PublishedAt)
{
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
}

/// <summary>A new policy version as the seller publishes it.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyUpdate")]
public sealed record PolicyUpdate(
    [property: Id(0)] int Version,
    [property: Id(1)] StoreStatus Status,
    [property: Id(2)] bool SellerAttestation,
    [property: Id(3)] ImmutableDictionary<Purpose, PurposeSetting> Purposes);

[GenerateSerializer]
public enum PolicyPublishStatus
{
    Published = 0,
    VersionNotIncreasing = 1,
    SellerAttestationRequired = 2,
}

[GenerateSerializer, Immutable, Alias("shopastro.PolicyPublishResult")]
public sealed record PolicyPublishResult(
    [property: Id(0)] PolicyPublishStatus Status,
    [property: Id(1)] StorePolicy? Policy);

/// <summary>The store's policy as a subject grain holds it, valid until the lease runs out.</summary>
/// <param name="Duration">How long the holder may rely on <paramref name="Policy"/> without hearing from the store.</param>
/// <param name="AbsentViewFor">
/// How long from now an edge may still decide the subject as one without a record (the store repaired its index
/// and could not tell every absence-lease holder).
/// </param>
/// <param name="NoRecordLeased">
/// The subject has had no stored record for at least a decision lease, so no lease on any other state of it can
/// still be used (asked with <c>present: false</c>; false whenever the store cannot tell).
/// </param>
[GenerateSerializer, Immutable, Alias("shopastro.PolicyLease")]
public sealed record PolicyLease(
    [property: Id(0)] StorePolicy? Policy,
    [property: Id(1)] TimeSpan Duration,
    [property: Id(2)] TimeSpan AbsentViewFor = default,
    [property: Id(3)] bool NoRecordLeased = false);
