using Orleans.Runtime;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

[GenerateSerializer, Immutable, Alias("shopastro.StoreState")]
public sealed record StoreState
{
    [Id(0)] public StorePolicy? Policy { get; init; }

    /// <summary>Every version ever published, oldest first: which purposes changed materially when.</summary>
    [Id(1)] public ImmutableList<StorePolicy> History { get; init; } = [];
}

/// <summary>
/// Holds a store's policy and hands it to subject grains as leases. A publish is acknowledged only once
/// every lease holder has the new version or its lease has expired, so no check that starts after the
/// acknowledgement decides on the old policy.
/// </summary>
internal sealed partial class StoreGrain(
    [PersistentState("store", StorageNames.Consent)] IPersistentState<StoreState> state,
    [PersistentState("storestats", StorageNames.Consent)] IPersistentState<StoreStats> stats,
    TimeProvider time,
    IOptions<ConsentClusterOptions> options,
    ILogger<StoreGrain> logger) : Grain, IStoreGrain
{
    private readonly Dictionary<string, long> _leaseExpiries = new(StringComparer.Ordinal);
    private readonly TimeSpan _lease = options.Value.PolicyLease;

    // Leases handed out by an earlier activation of this store (on a silo that may have died) are unknown
    // to this one; a publish waits until they must have expired.
    private long _unknownLeasesUntil;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists)
        {
            _unknownLeasesUntil = time.GetTimestamp() + ToTicks(_lease);
        }

        return Task.CompletedTask;
    }

    /// <summary>Statistics are not consent: a crash may lose the counts of up to this long.</summary>
    private static readonly TimeSpan StatsPersistInterval = TimeSpan.FromSeconds(10);

    private DateTimeOffset _statsPersistedAt;

    public Task<StorePolicy?> GetPolicy() => Task.FromResult(state.State.Policy);

    public Task<StoreStats> GetStats() => Task.FromResult(stats.State);

    public async Task MergeStats(Dictionary<Purpose, PurposeStats> delta)
    {
        var now = time.GetUtcNow();
        stats.State = stats.State.Add(delta, now);
        Feed.Publish([new FeedEvent(FeedEventType.StatsChanged, now, Stats: stats.State)]).Ignore();
        if (now - _statsPersistedAt >= StatsPersistInterval)
        {
            _statsPersistedAt = now;
            await stats.WriteStateAsync();
        }
    }

    private IStoreFeedGrain Feed => GrainFactory.GetGrain<IStoreFeedGrain>(this.GetPrimaryKeyString());

    public Task<PolicyLease> AcquirePolicyLease(string subjectId)
    {
        _leaseExpiries[subjectId] = time.GetTimestamp() + ToTicks(_lease);
        return Task.FromResult(new PolicyLease(state.State.Policy, _lease));
    }

    public Task ReleasePolicyLease(string subjectId)
    {
        _leaseExpiries.Remove(subjectId);
        return Task.CompletedTask;
    }

    public async Task<PolicyPublishResult> PublishPolicy(PolicyUpdate update)
    {
        var current = state.State.Policy;
        if (current is not null && update.Version <= current.Version)
        {
            return new PolicyPublishResult(PolicyPublishStatus.VersionNotIncreasing, current);
        }

        if (!update.SellerAttestation && update.Purposes.Any(p => p.Value.Enabled && p.Key.RequiresSellerAttestation()))
        {
            return new PolicyPublishResult(PolicyPublishStatus.SellerAttestationRequired, current);
        }

        var materialChanges = current?.MaterialChangeVersions ?? ImmutableDictionary<Purpose, int>.Empty;
        foreach (var (purpose, setting) in update.Purposes)
        {
            if (setting.MaterialChange)
            {
                materialChanges = materialChanges.SetItem(purpose, update.Version);
            }
        }

        var policy = new StorePolicy(
            update.Version, update.Status, update.SellerAttestation, update.Purposes, materialChanges, time.GetUtcNow());
        await state.PersistAsync(state.State with { Policy = policy, History = state.State.History.Add(policy) }, this, "policy");

        await PushToLeaseHolders(policy);
        Feed.Publish([new FeedEvent(FeedEventType.PolicyChanged, policy.PublishedAt, Policy: policy)]).Ignore();
        return new PolicyPublishResult(PolicyPublishStatus.Published, policy);
    }

    private async Task PushToLeaseHolders(StorePolicy policy)
    {
        var now = time.GetTimestamp();
        var holders = new List<KeyValuePair<string, long>>(_leaseExpiries.Count);
        foreach (var holder in _leaseExpiries)
        {
            if (holder.Value > now)
            {
                holders.Add(holder);
            }
        }

        if (holders.Count != _leaseExpiries.Count)
        {
            _leaseExpiries.Clear();
            foreach (var (subjectId, expiry) in holders)
            {
                _leaseExpiries[subjectId] = expiry;
            }
        }

        var storeId = this.GetPrimaryKeyString();
        var timeout = options.Value.PolicyPushTimeout;
        var unreached = await Task.WhenAll(holders.Select(async holder =>
        {
            try
            {
                await GrainFactory.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, holder.Key))
                    .OnPolicyChanged(policy).WaitAsync(timeout, time);
                return 0L;
            }
            catch (Exception exception)
            {
                LogPushFailed(exception, storeId, policy.Version);
                return holder.Value;
            }
        }));

        var waitUntil = Math.Max(_unknownLeasesUntil, unreached.DefaultIfEmpty(0L).Max());
        var remaining = time.GetElapsedTime(time.GetTimestamp(), waitUntil);
        if (waitUntil > time.GetTimestamp() && remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining, time);
        }

        LogPublished(storeId, policy.Version, holders.Count);
    }

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: a lease holder did not take policy {Version}; waiting for its lease to expire")]
    private partial void LogPushFailed(Exception exception, string storeId, int version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {StoreId}: policy {Version} published to {Holders} lease holders")]
    private partial void LogPublished(string storeId, int version, int holders);
}
