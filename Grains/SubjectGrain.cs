using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Coherence;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Feed;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Stats;

namespace ShopAstro.Grains;

/// <summary>
/// One shopper at one store: consent, rights and the subject's copy of its store's policy. Decisions come from
/// memory: the persisted record and a leased copy of the store policy that the store grain refreshes by push on
/// every publish. Edge processes may cache both as a decision lease (<see cref="SubjectLeases"/> keeps that
/// protocol); every change is durable, and every such lease revoked, before it is acknowledged.
/// </summary>
internal sealed class SubjectGrain(SubjectGrainServices services)
    : Grain, ISubjectGrain, IRemindable, IPolicyLeaseSource, ILeaseFailureLog
{
    private const string AnonymousPrefix = "anon:";

    // Made with the activation (not injected: an injected grain context is cached in the activation's service scope).
    private SubjectState state = null!;

    private string _storeId = "";
    private PolicyCopy _policy = null!;
    private AnonymousRetention? _retention;
    private StoreStatsCollector.Counters _counters = null!;
    private bool _presentConfirmed;
    private SubjectLeases _leases = null!;

    private IStoreGrain Store => GrainFactory.Of<IStoreGrain>(_storeId);

    /// <summary>Made on first use: most subjects are not anonymous and never need it (per-grain memory is the budget).</summary>
    private AnonymousRetention Retention => _retention ??= new AnonymousRetention(this, services.Options, services.Logger);

    void ILeaseFailureLog.LeaseCallFailed(Exception exception, string what) =>
        services.Logger.LogWarning(exception, "{StoreId}/{SubjectId}: {What}", _storeId, SubjectId, what);

    /// <summary>The subject's id, made from the grain's key when it is needed (per-grain memory is the budget: not kept).</summary>
    private string SubjectId => SubjectKey.Parse(this.GetPrimaryKeyString()).SubjectId;

    private bool IsAnonymous { get; set; }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        state = new SubjectState(GrainContext, services.Storage);
        await state.ReadStateAsync();
        (_storeId, var subjectId) = SubjectKey.Parse(this.GetPrimaryKeyString());
        IsAnonymous = subjectId.StartsWith(AnonymousPrefix, StringComparison.Ordinal);
        // Per-grain memory is the budget (load-tests): one copy of each store id, and no store reference kept.
        _storeId = string.Intern(_storeId);
        _counters = services.Stats.For(_storeId);
        var settings = services.Options;
        var time = services.Time;
        _leases = new SubjectLeases(time, settings.DecisionLease, new LeaseGrants(services.LeaseGrants, this));
        _leases.Activated();
        // The edge's copy must not outlive this grain's copy of the policy: renewed when less than a decision
        // lease (or half a policy lease, if that is shorter) is left.
        _policy = new PolicyCopy(time, settings.DecisionLease < settings.PolicyLease / 2 ? settings.DecisionLease : settings.PolicyLease / 2, this);
        await _policy.RefreshAsync();
    }

    public ValueTask<DecisionSet> Decide(Purpose[] purposes, RequestSignals signals)
    {
        if (_policy.Expired)
        {
            return DecideAfterRefresh(purposes, signals);
        }

        return ValueTask.FromResult(DecideNow(purposes, signals));
    }

    public ValueTask<DecisionLease> LeaseDecisions(IDecisionLeaseHolder holder, PolicyStamp? held) =>
        _leases.Changing is null && !_policy.EndsSoon ? ValueTask.FromResult(GrantLease(holder, held)) : LeaseAfterChange(holder, held);

    public async Task<ExplainedSet> Explain(Purpose[] purposes, RequestSignals signals)
    {
        await _policy.EnsureAsync();
        var record = state.State;
        var policy = _policy.Policy;
        var explained = purposes.Select(purpose => DecisionEngine.Explain(policy, record, purpose, signals)).ToArray();
        foreach (var decision in explained)
        {
            _counters.Checked(decision.Decision);
        }

        return new ExplainedSet(policy?.Version, explained);
    }

    public async Task<ConsentWriteResult> SetConsents(ConsentUpdate update)
    {
        if (Refusal(state.State.Status) is { } refused)
        {
            await Settle();
            return new ConsentWriteResult(refused, null);
        }

        await _policy.EnsureAsync();
        if (_policy.Policy is not { } policy)
        {
            return new ConsentWriteResult(ConsentWriteStatus.StoreUnknown, null);
        }

        if (update.PolicyVersion > policy.Version)
        {
            return new ConsentWriteResult(ConsentWriteStatus.PolicyVersionAhead, null);
        }

        var at = Now();
        var choices = update.Purposes.OrderBy(p => p.Key)
            .Select(p => (p.Key, new ConsentChoice(p.Value, update.PolicyVersion, at, update.Source, update.Signals.Dnt, update.Signals.Gpc)))
            .ToList();
        var previous = state.State;
        var next = SubjectTransitions.WithChoices(previous, choices, at);
        await Persist(next);
        Announce(previous, next, at, countAsChoices: true);
        return new ConsentWriteResult(ConsentWriteStatus.Recorded, next);
    }

    public Task<SubjectRecord?> GetRecord() => Task.FromResult(state.RecordExists ? state.State : null);

    public async Task Erase()
    {
        if (!state.RecordExists)
        {
            await Settle();
        }
        else if (state.State.Status == SubjectStatus.Active)
        {
            await Tombstone(SubjectStatus.Erased);
        }
        else if (SubjectTransitions.NamesLinkedIds(state.State))
        {
            // Already a tombstone (cancellation and minority outlive a deletion request), whose receipt may still name
            // the visitor whose link made it a minor's.
            await Persist(SubjectTransitions.WithoutLinkedIds(state.State));
        }
        else
        {
            await Settle();
        }
    }

    public async Task Cancel()
    {
        if (state.State.Status == SubjectStatus.Cancelled)
        {
            await Settle();
            return;
        }

        await Tombstone(SubjectStatus.Cancelled);
    }

    public async Task<ConsentWriteStatus> SetMinor(bool minor)
    {
        var status = state.State.Status;
        if (status == SubjectStatus.Cancelled)
        {
            await Settle();
            return ConsentWriteStatus.SubjectCancelled;
        }

        if (minor && status != SubjectStatus.Minor)
        {
            await Tombstone(SubjectStatus.Minor);
        }
        else if (!minor && status == SubjectStatus.Minor)
        {
            await Persist(SubjectTransitions.MinorLifted(state.State, Now()));
        }
        else
        {
            await Settle();
        }

        return ConsentWriteStatus.Recorded;
    }

    public async Task<ConsentWriteResult> Link(string anonymousSubjectId)
    {
        if (IsAnonymous || !anonymousSubjectId.StartsWith(AnonymousPrefix, StringComparison.Ordinal))
        {
            return new ConsentWriteResult(ConsentWriteStatus.NotLinkable, null);
        }

        if (Refusal(state.State.Status) is { } refused)
        {
            await Settle();
            return new ConsentWriteResult(refused, null);
        }

        // An active visitor's data goes first, in one turn with handing it over. Should the account's write then
        // fail, the carried choices are lost, which leaves no consent: the safe direction. A minor or cancelled
        // visitor keeps its record and status; the link never weakens either.
        var visitor = GrainFactory.GetGrain<ISubjectGrain>(SubjectKey.Of(_storeId, anonymousSubjectId));
        switch (await visitor.TakeForLink(SubjectId))
        {
            case null:
                return new ConsentWriteResult(ConsentWriteStatus.Recorded, state.State);
            case { Status: SubjectStatus.Cancelled }:
                return new ConsentWriteResult(ConsentWriteStatus.SubjectCancelled, null);
            case { Status: SubjectStatus.Minor }:
                // As "age" would: the account's data goes, its receipt names the link.
                await Tombstone(SubjectStatus.Minor, anonymousSubjectId);
                return new ConsentWriteResult(ConsentWriteStatus.Recorded, state.State);
            case { } anonymous:
                // The account's own choices win; the visitor's fill the purposes the account has none for.
                var previous = state.State;
                var at = Now();
                await Persist(SubjectTransitions.Linked(previous, anonymous, anonymousSubjectId, at));
                Announce(previous, state.State, at, countAsChoices: false);
                return new ConsentWriteResult(ConsentWriteStatus.Recorded, state.State);
        }
    }

    public async Task<SubjectRecord?> TakeForLink(string accountSubjectId)
    {
        if (!state.RecordExists)
        {
            return null;
        }

        var record = state.State;
        if (Refusal(record.Status) is not null)
        {
            // Revealed to the account: settled as any refusal is.
            await Settle();
            return record;
        }

        await ClearAll();
        return record;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != AnonymousRetention.ReminderName)
        {
            return;
        }

        if (!state.RecordExists || Retention.Due(state.State.LastWrittenAt, Now()))
        {
            if (state.RecordExists)
            {
                await ClearAll();
            }
            else
            {
                await Retention.AfterRowDeletedAsync();
            }
        }
    }

    public Task OnPolicyChanged(StorePolicy policy)
    {
        if (!_leases.AnyLive)
        {
            _policy.Accept(policy);
            return Task.CompletedTask;
        }

        // Even when a lease refresh brought this version first: edges may still hold leases on the old one.
        return Change(() =>
        {
            _policy.Accept(policy);
            return Task.FromResult(true);
        });
    }

    private static ConsentWriteStatus? Refusal(SubjectStatus status) => status switch
    {
        SubjectStatus.Cancelled => ConsentWriteStatus.SubjectCancelled,
        SubjectStatus.Minor => ConsentWriteStatus.SubjectMinor,
        _ => null,
    };

    /// <summary>The data goes, the receipts to the anonymised archive, the status stays as proof of the request.</summary>
    private async Task Tombstone(SubjectStatus status, string? linkedFrom = null)
    {
        // Before the archive too: a write refused for want of a reminder archives nothing twice when it is retried.
        await EnsureRetention();
        await ArchiveReceipts();
        var previous = state.State;
        var at = Now();
        await Persist(SubjectTransitions.Tombstone(status, at, linkedFrom));
        Announce(previous, state.State, at, countAsChoices: false);
    }

    /// <summary>Nothing is left: the row is deleted, the receipts kept anonymised.</summary>
    private async Task ClearAll()
    {
        await ArchiveReceipts();
        var previous = state.State;
        await Change(async () =>
        {
            await state.ClearAsync(this, "erasure");
            state.State = SubjectRecord.Empty;
            return true;
        });
        Announce(previous, state.State, Now(), countAsChoices: false);
        if (IsAnonymous)
        {
            await Retention.AfterRowDeletedAsync();
        }

        DeactivateOnIdle();
    }

    /// <summary>
    /// Counts the change for the store's statistics and tells the live feed which choices changed. One-way:
    /// the feed never slows the write that was just acknowledged.
    /// </summary>
    private void Announce(SubjectRecord before, SubjectRecord after, DateTimeOffset at, bool countAsChoices)
    {
        List<FeedEvent>? events = null;
        string? subjectId = null;
        foreach (var purpose in Purposes.ConsentBased)
        {
            var was = before.Consents.GetValueOrDefault(purpose);
            var now = after.Consents.GetValueOrDefault(purpose);
            if (ReferenceEquals(was, now))
            {
                continue;
            }

            _counters.Chose(purpose, was?.Granted, now?.Granted, countAsChoices);
            if (now is not null)
            {
                (events ??= []).Add(new FeedEvent(FeedEventType.ConsentChanged, at, subjectId ??= SubjectId, purpose, now.Granted));
            }
        }

        if (events is not null)
        {
            GrainFactory.Of<IStoreFeedGrain>(_storeId).Publish([.. events]).Ignore();
        }
    }

    /// <summary>Under a token of this erasure alone, without the id of any visitor linked in (see <see cref="ReceiptChain.Anonymise"/>).</summary>
    private async Task ArchiveReceipts()
    {
        if (state.State.Receipts.Count > 0)
        {
            await GrainFactory.GetGrain<IReceiptArchiveGrain>(SubjectKey.Of(_storeId, services.Anonymiser.NewToken(_storeId, SubjectId)))
                .Archive([.. state.State.Receipts.Select(ReceiptChain.Anonymise)]);
        }
    }

    private DateTimeOffset Now()
    {
        // Receipts carry millisecond times, as their hash does.
        var now = services.Time.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
    }

    private DecisionSet DecideNow(Purpose[] purposes, RequestSignals signals)
    {
        var record = state.State;
        var policy = _policy.Policy;
        var decisions = new Decision[purposes.Length];
        for (var i = 0; i < purposes.Length; i++)
        {
            decisions[i] = DecisionEngine.Decide(policy, record, purposes[i], signals);
            _counters.Checked(decisions[i]);
        }

        return new DecisionSet(policy?.Version, decisions);
    }

    private async ValueTask<DecisionSet> DecideAfterRefresh(Purpose[] purposes, RequestSignals signals)
    {
        await _policy.EnsureAsync();
        return DecideNow(purposes, signals);
    }

    Task<PolicyLease> IPolicyLeaseSource.AcquirePolicyLeaseAsync(PolicyStamp? held) =>
        Store.AcquirePolicyLease(SubjectId, present: state.RecordExists, held);

    void IPolicyLeaseSource.Received(PolicyLease lease)
    {
        if (lease.NoRecordLeased && !state.RecordExists && !_presentConfirmed)
        {
            _leases.EarlierActivationsLeasedNoRecord();
        }

        _presentConfirmed |= state.RecordExists;
        AbsentViewsFor(lease.AbsentViewFor);
    }

    private void AbsentViewsFor(TimeSpan remaining)
    {
        if (remaining > TimeSpan.Zero)
        {
            _leases.AbsentViewsUntil(services.Time.GetTimestamp() + services.Time.TimestampTicks(remaining));
        }
    }

    /// <summary>
    /// Lease requests interleave with everything (so that a change waiting for an unreachable edge's lease
    /// to run out does not hold up the checks of the others), but never with the part of a change that
    /// alters the state and revokes the leases.
    /// </summary>
    private async ValueTask<DecisionLease> LeaseAfterChange(IDecisionLeaseHolder holder, PolicyStamp? held)
    {
        var refreshed = false;
        while (true)
        {
            if (_leases.Changing is not null)
            {
                await _leases.NotChangingAsync();
            }
            else if (_policy.EndsSoon && !refreshed)
            {
                // Once: a policy lease shorter than a decision lease gives decision leases of what it has left.
                await _policy.RefreshAsync();
                refreshed = true;
            }
            else if (_policy.Expired)
            {
                // Not even a lease for one use from a copy that ran out (the refresh it joined may have brought one).
                await _policy.EnsureAsync();
            }
            else
            {
                return GrantLease(holder, held);
            }
        }
    }

    private Task Change(Func<Task<bool>> apply)
    {
        var subjectId = SubjectId;
        return _leases.ChangeAsync(apply, holder => holder.Revoke(_storeId, subjectId));
    }

    /// <summary>A write that changes nothing settles what an earlier activation or a failed change may have left out.</summary>
    private Task Settle()
    {
        var subjectId = SubjectId;
        return _leases.SettleAsync(EnsurePresentAsync, holder => holder.Revoke(_storeId, subjectId));
    }

    /// <summary>
    /// After the commit of a record, before its acknowledgement: the store's index, and every edge deciding this store's
    /// unknown subjects as absent, name this one. Whether it denies more is judged against no record at all, which is
    /// how those edges decided it.
    /// </summary>
    private async Task EnsurePresentAsync()
    {
        if (!_presentConfirmed && state.RecordExists)
        {
            AbsentViewsFor(await Store.MarkPresent(SubjectId, SubjectLeases.Restricts(SubjectRecord.Empty, state.State)));
            _presentConfirmed = true;
        }
    }

    private DecisionLease GrantLease(IDecisionLeaseHolder holder, PolicyStamp? held) =>
        _leases.Grant(holder, _policy.Policy, state.State, _policy.ExpiresAt, held);

    /// <summary>An anonymous visitor's row is never written without its retention reminder.</summary>
    private Task EnsureRetention() => IsAnonymous ? Retention.BeforeWriteAsync() : Task.CompletedTask;

    private async Task Persist(SubjectRecord next)
    {
        await EnsureRetention();
        IReadOnlyList<string> queuedFor = [];
        await Change(async () =>
        {
            var before = state.State;
            // The downstream event, if the change makes one, is committed in the transaction of this write.
            var outgoing = DownstreamEvents.Between(_storeId, SubjectId, before, next, next.LastWrittenAt ?? Now());
            using (var staged = outgoing is null ? null : services.Outbox.Stage(GrainContext.GrainId, outgoing))
            {
                await state.PersistAsync(next, this, "subject change");
                queuedFor = staged?.QueuedFor ?? [];
            }

            // After the commit, so that a store activation reading its index meanwhile misses nothing.
            await EnsurePresentAsync();
            return SubjectLeases.Restricts(before, next);
        });
        foreach (var system in queuedFor)
        {
            GrainFactory.GetGrain<IDownstreamDeliveryGrain>(DownstreamKeys.Of(_storeId, system)).Wake().Ignore();
        }
    }
}
