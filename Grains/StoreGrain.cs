using Orleans.Runtime;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Coherence;
using ShopAstro.Grains.Leases;
using ShopAstro.Grains.Stats;

namespace ShopAstro.Grains;

/// <summary>
/// Holds a store's policy and hands it to subject grains as leases, and to edges with its subject index as
/// absence leases (<see cref="AbsenceIndex"/>). Only the committed policy is ever handed out (S2): a publish in
/// flight is invisible to the lease requests that interleave with it. A publish is acknowledged only once every
/// lease holder has the new version or its lease has expired, so no check that starts after the
/// acknowledgement decides on the old policy (S1). A version scheduled ahead takes effect at its instant: every
/// lease handed out ends by then (<see cref="LeaseFor"/>), so no check that starts after it decides on the version
/// before (docs/coherence.md, "Scheduled versions").
/// </summary>
internal sealed partial class StoreGrain(
    [PersistentState("store", StorageNames.Consent)] IPersistentState<StoreState> state,
    [PersistentState("storestats", StorageNames.Consent)] IPersistentState<StoreStats> stats,
    TimeProvider time,
    IOptions<ConsentClusterOptions> options,
    ISubjectIndexSource index,
    LeaseGrantSettings leaseGrants,
    IStatsHistoryStore history,
    IOptions<StatsHistoryOptions> historyOptions,
    IOptions<PolicyOptions> policyOptions,
    ILogger<StoreGrain> logger) : Grain, IStoreGrain, ILeaseFailureLog, IRemindable
{
    private readonly StoreCounters _counters = new(stats, history, time, logger);

    private AbsenceIndex _absence = null!;
    private Task? _indexRead;
    private long _activatedAt;

    // The versions as stored: what leases and reads hand out. state.State holds a publish's new version while its
    // write is out, which interleaving lease requests must never see.
    private StoreState _stored = new();

    // While a scheduled version is being written: leases handed out meanwhile end by its effective time too.
    private DateTimeOffset? _pendingEffectiveAt;

    private PolicyEffectiveAlarm _alarm = null!;

    private readonly PolicyVersions _versions = new(policyOptions.Value.MaterialNoticePeriod, options.Value.PolicyLease);

    private readonly TimeSpan _lease = options.Value.PolicyLease;

    // The subjects holding a copy of the policy: a publish reaches each, or waits its lease out.
    private readonly PolicyLeases _policyLeases = new(time, options.Value.PolicyLease);

    private string StoreId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // An earlier activation (on a silo that may have died) may have handed out leases this one does not know of.
        _policyLeases.Activated(earlierActivationsMayHaveLeased: state.RecordExists);
        _stored = state.State;
        _alarm = new PolicyEffectiveAlarm(this, time, policyOptions.Value.EffectiveRetry, FoldDueVersionsAsync);
        _alarm.Arm(_stored);
        _activatedAt = time.GetTimestamp();
        _absence = new AbsenceIndex(time, options.Value.DecisionLease, new LeaseGrants(leaseGrants, this));
        _absence.Activated();
        ReadIndex();
        var interval = historyOptions.Value.Interval;
        this.RegisterGrainTimer(
            cancellation => _counters.SnapshotAsync(StoreId, cancellation), interval, interval);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Reads the subjects with a record in the background; absence leases are granted once it is done. A subject
    /// whose first write commits meanwhile marks itself after its commit, so the union misses none. The read
    /// starts only once the absence leases of an earlier activation must have run out: a subject the read finds
    /// is not announced to their holders (its own mark, arriving later, finds it present), so none may be left.
    /// </summary>
    private void ReadIndex()
    {
        if (_absence.Indexed || _indexRead is { IsCompleted: false })
        {
            return;
        }

        _indexRead = ReadIndexAsync();

        async Task ReadIndexAsync()
        {
            try
            {
                await time.DelayUntilAsync(_activatedAt + time.TimestampTicks(options.Value.DecisionLease));

                _absence.Loaded(await index.SubjectsWithRecordsAsync(StoreId, CancellationToken.None));
            }
            catch (Exception exception)
            {
                // Edges go on asking the subject grains; the next absence lease request tries again.
                LogIndexFailed(exception, StoreId);
            }
        }
    }

    void ILeaseFailureLog.LeaseCallFailed(Exception exception, string what) => LogLeaseCallFailed(exception, StoreId, what);

    public Task<AbsenceLease> LeaseAbsence(IDecisionLeaseHolder holder, Guid epoch, int since)
    {
        ReadIndex();
        var now = time.GetUtcNow();
        return Task.FromResult(_absence.Lease(holder, _stored.CurrentAt(now), epoch, since, LeaseFor(options.Value.DecisionLease, now)));
    }

    public Task<TimeSpan> MarkPresent(string subjectId, bool restrictive) => MarkPresentShared(Shared(subjectId), restrictive);

    /// <summary><see cref="MarkPresent"/> of an id <see cref="Shared"/> has already given.</summary>
    private Task<TimeSpan> MarkPresentShared(string subjectId, bool restrictive)
    {
        var storeId = StoreId;
        return _absence.MarkPresentAsync(subjectId, restrictive, holder => holder.AddPresent(storeId, subjectId));
    }

    public Task<PolicyView> GetPolicyView()
    {
        var now = time.GetUtcNow();
        return Task.FromResult(new PolicyView(_stored.CurrentAt(now), _stored.UpcomingAt(now)));
    }

    public Task<StoreStats> GetStats() => Task.FromResult(_counters.Current);

    public Task MergeStats(Dictionary<Purpose, PurposeStats> delta) =>
        _counters.MergeAsync(delta, changed => Feed.Publish([changed]).Ignore());

    private IStoreFeedGrain Feed => GrainFactory.Of<IStoreFeedGrain>(StoreId);

    /// <summary>
    /// A subject's id as the absence index or the policy-lease holders already hold it: each call brings its own copy, and
    /// both keep one per subject with a record (memory per subject is the budget: load-tests).
    /// </summary>
    private string Shared(string subjectId) =>
        _absence.TryGetPresent(subjectId, out var present) ? present
        : _policyLeases.TryGetHeld(subjectId, out var held) ? held
        : subjectId;

    public Task<PolicyLease> AcquirePolicyLease(string subjectId, bool present, PolicyStamp? held)
    {
        var now = time.GetUtcNow();
        var lease = LeaseFor(_lease, now);
        subjectId = Shared(subjectId);
        _policyLeases.Granted(subjectId, lease);
        var current = _stored.CurrentAt(now);
        // The version the subject holds is not sent again (it keeps its copy).
        var policy = current is not null && current.IsNamedBy(held) ? null : current;
        return present && !_absence.Contains(subjectId) ? MarkedAsync()
            : Task.FromResult(new PolicyLease(policy, lease));

        async Task<PolicyLease> MarkedAsync()
        {
            // A repair of the index (no write waits on it): holders are told, an unreachable one is not waited for,
            // so that an activation never stalls on a dead edge; the subject learns how long to count it.
            var absentViewFor = await MarkPresentShared(subjectId, restrictive: false);
            return new PolicyLease(policy, lease, absentViewFor);
        }
    }

    public async Task<PolicyPublishResult> PublishPolicy(PolicyUpdate update)
    {
        var now = await FoldIfDueAsync();
        var result = _versions.Check(_stored, update, now);
        if (result.Status != PolicyPublishStatus.Published)
        {
            return result;
        }

        var policy = result.Policy!;
        var stored = _stored;
        if (policy.EffectiveAt is { } effectiveAt)
        {
            _pendingEffectiveAt = effectiveAt;
            try
            {
                await state.PersistAsync(stored with { Scheduled = stored.Scheduled.Add(policy) }, this, "policy");
            }
            finally
            {
                _pendingEffectiveAt = null;
            }

            _stored = state.State;
            await _alarm.SetAsync(_stored);
            Feed.Publish([new FeedEvent(FeedEventType.PolicyScheduled, now, Policy: policy)]).Ignore();
            return result;
        }

        await state.PersistAsync(stored with { Policy = policy, History = stored.History.Add(policy) }, this, "policy");
        _stored = state.State;
        await TakeEffectAsync(policy);
        return result;
    }

    public Task<PolicyDraft> DraftPolicy(PolicyUpdate update)
    {
        var now = time.GetUtcNow();
        var result = PolicyVersions.Draft(_stored, update, now);
        return Task.FromResult(new PolicyDraft(
            result.Status, _stored.CurrentAt(now), result.Status == PolicyPublishStatus.Published ? result.Policy : null, _stored.Latest));
    }

    public async Task<PolicyCancelStatus> CancelScheduledPolicy(int version)
    {
        var now = await FoldIfDueAsync();
        var status = _versions.CheckCancel(_stored, version, now);
        if (status != PolicyCancelStatus.Cancelled)
        {
            return status;
        }

        // Later versions were built on this one (their material changes accumulate through it): they go with it.
        var stored = _stored;
        var cancelled = stored.Scheduled.FindAll(policy => policy.Version >= version);
        await state.PersistAsync(stored with { Scheduled = stored.Scheduled.RemoveAll(policy => policy.Version >= version) }, this, "policy");
        _stored = state.State;
        await _alarm.SetAsync(_stored);
        Feed.Publish([.. cancelled.Select(policy => new FeedEvent(FeedEventType.PolicyScheduled, now, Policy: policy, Cancelled: true))]).Ignore();
        return status;
    }

    /// <summary>How long a lease handed out now may run (<see cref="StoreState.LeaseAt"/>).</summary>
    private TimeSpan LeaseFor(TimeSpan lease, DateTimeOffset now) => _stored.LeaseAt(now, lease, _pendingEffectiveAt);

    /// <summary>A version now in force is told to every holder and announced.</summary>
    private async Task TakeEffectAsync(StorePolicy policy)
    {
        await PushToLeaseHolders(policy);
        // Absence leases carry the policy too.
        var storeId = StoreId;
        await _absence.SettleAsync(await _absence.RevokeAsync(holder => holder.RevokeAbsence(storeId)));
        Feed.Publish([new FeedEvent(FeedEventType.PolicyChanged, policy.InForceFrom, Policy: policy)]).Ignore();
    }

    Task IRemindable.ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == PolicyEffectiveAlarm.ReminderName ? FoldDueVersionsAsync() : Task.CompletedTask;

    /// <summary>
    /// Scheduled versions whose time has come are written as in force and announced. Decisions do not wait for this
    /// (the version in force follows from the stored schedule and the time); the reminder makes it happen, and the
    /// feed hear of it, even if no silo had the store active at that instant.
    /// </summary>
    private async Task FoldDueVersionsAsync()
    {
        var now = time.GetUtcNow();
        var folded = _stored.FoldedAt(now);
        if (!ReferenceEquals(folded, _stored))
        {
            var due = _stored.Scheduled.Count - folded.Scheduled.Count;
            await state.PersistAsync(folded, this, "policy");
            _stored = state.State;
            LogTookEffect(StoreId, folded.Policy!.Version, due);
            await TakeEffectAsync(folded.Policy!);
        }

        await _alarm.SetAsync(_stored);
    }

    /// <summary>Versions already in force are written (and announced) as such before the schedule is changed.</summary>
    private async Task<DateTimeOffset> FoldIfDueAsync()
    {
        if (!ReferenceEquals(_stored.FoldedAt(time.GetUtcNow()), _stored))
        {
            await FoldDueVersionsAsync();
        }

        return time.GetUtcNow();
    }

    private async Task PushToLeaseHolders(StorePolicy policy)
    {
        var storeId = StoreId;
        var holders = await _policyLeases.PushAsync(
            subjectId => GrainFactory.Of<ISubjectGrain>(SubjectKey.Of(storeId, subjectId)).OnPolicyChanged(policy),
            options.Value.PolicyPushTimeout,
            exception => LogPushFailed(exception, storeId, policy.Version));
        LogPublished(storeId, policy.Version, holders);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: a lease holder did not take policy {Version}; waiting for its lease to expire")]
    private partial void LogPushFailed(Exception exception, string storeId, int version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: {What}")]
    private partial void LogLeaseCallFailed(Exception exception, string storeId, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: the subject index could not be read; no absence leases until it is")]
    private partial void LogIndexFailed(Exception exception, string storeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {StoreId}: policy {Version} took effect as scheduled ({Count} versions due)")]
    private partial void LogTookEffect(string storeId, int version, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {StoreId}: policy {Version} published to {Holders} lease holders")]
    private partial void LogPublished(string storeId, int version, int holders);
}
