using Orleans.Runtime;
using Orleans.Storage;
using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// One shopper at one store. Decisions come from memory: the persisted record and a leased copy of the
/// store policy that the store grain refreshes by push on every publish.
/// </summary>
internal sealed class SubjectGrain(
    [PersistentState("subject", StorageNames.Consent)] IPersistentState<SubjectRecord> state,
    TimeProvider time) : Grain, ISubjectGrain
{
    private string _storeId = "";
    private string _subjectId = "";
    private IStoreGrain _store = null!;
    private StorePolicy? _policy;
    private long _leaseExpiresAt;
    private Task? _leaseRefresh;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_storeId, _subjectId) = SubjectKey.Parse(this.GetPrimaryKeyString());
        _store = GrainFactory.GetGrain<IStoreGrain>(_storeId);
        return RefreshLease();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // One-way: a store grain that cannot be reached lets the lease expire instead. A silo that is
        // shutting down takes its store grains with it, or leaves their leases to expire.
        if (reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            _store.ReleasePolicyLease(_subjectId).Ignore();
        }

        return Task.CompletedTask;
    }

    public ValueTask<DecisionSet> Decide(Purpose[] purposes, RequestSignals signals)
    {
        if (LeaseExpired)
        {
            return DecideAfterRefresh(purposes, signals);
        }

        return ValueTask.FromResult(DecideNow(purposes, signals));
    }

    public async Task<ConsentWriteResult> SetConsents(ConsentUpdate update)
    {
        var current = state.State;
        switch (current.Status)
        {
            case SubjectStatus.Cancelled:
                return new ConsentWriteResult(ConsentWriteStatus.SubjectCancelled, null);
            case SubjectStatus.Minor:
                return new ConsentWriteResult(ConsentWriteStatus.SubjectMinor, null);
        }

        if (LeaseExpired)
        {
            await RefreshLease();
        }

        if (_policy is null)
        {
            return new ConsentWriteResult(ConsentWriteStatus.StoreUnknown, null);
        }

        if (update.PolicyVersion > _policy.Version)
        {
            return new ConsentWriteResult(ConsentWriteStatus.PolicyVersionAhead, null);
        }

        var at = time.GetUtcNow();
        var consents = current.Consents.ToBuilder();
        var receipts = current.Receipts.ToBuilder();
        foreach (var (purpose, granted) in update.Purposes.OrderBy(p => p.Key))
        {
            consents[purpose] = new ConsentChoice(granted, update.PolicyVersion, at, update.Source, update.Signals.Dnt, update.Signals.Gpc);
            receipts.Add(new ConsentReceipt(
                Guid.CreateVersion7(at).ToString("N"), purpose, granted, update.PolicyVersion, update.Source,
                update.Signals.Dnt, update.Signals.Gpc, at));
        }

        var next = current with
        {
            // A shopper whose data was erased may consent again (policy-rules: deletion).
            Status = SubjectStatus.Active,
            Consents = consents.ToImmutable(),
            Receipts = receipts.ToImmutable(),
            LastWrittenAt = at,
        };
        await Persist(next);
        return new ConsentWriteResult(ConsentWriteStatus.Recorded, next);
    }

    public Task<SubjectRecord?> GetRecord() => Task.FromResult(state.RecordExists ? state.State : null);

    public Task OnPolicyChanged(StorePolicy policy)
    {
        AcceptPolicy(policy);
        return Task.CompletedTask;
    }

    private bool LeaseExpired => time.GetTimestamp() >= _leaseExpiresAt;

    private DecisionSet DecideNow(Purpose[] purposes, RequestSignals signals)
    {
        var record = state.State;
        var decisions = new Decision[purposes.Length];
        for (var i = 0; i < purposes.Length; i++)
        {
            decisions[i] = DecisionEngine.Decide(_policy, record, purposes[i], signals);
        }

        return new DecisionSet(_policy?.Version, decisions);
    }

    private async ValueTask<DecisionSet> DecideAfterRefresh(Purpose[] purposes, RequestSignals signals)
    {
        await RefreshLease();
        return DecideNow(purposes, signals);
    }

    /// <summary>Concurrent read-only checks share one refresh.</summary>
    private Task RefreshLease() => _leaseRefresh ??= RefreshLeaseCore();

    private async Task RefreshLeaseCore()
    {
        try
        {
            // Counted from before the request: this copy expires no later than the store's record of the lease.
            var requestedAt = time.GetTimestamp();
            var lease = await _store.AcquirePolicyLease(_subjectId);
            if (lease.Policy is not null)
            {
                AcceptPolicy(lease.Policy);
            }

            _leaseExpiresAt = requestedAt + (long)(lease.Duration.TotalSeconds * time.TimestampFrequency);
        }
        finally
        {
            _leaseRefresh = null;
        }
    }

    private void AcceptPolicy(StorePolicy policy)
    {
        if (_policy is null || policy.Version >= _policy.Version)
        {
            _policy = policy;
        }
    }

    /// <summary>Durable before acknowledged; a failed write leaves nothing behind in memory.</summary>
    private async Task Persist(SubjectRecord next)
    {
        var previous = state.State;
        state.State = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception exception)
        {
            state.State = previous;
            // The ETag may now be stale too: the next activation reads the truth from storage.
            DeactivateOnIdle();
            if (exception is InconsistentStateException)
            {
                throw;
            }

            throw new StorageUnavailableException($"The subject change could not be stored: {exception.GetType().Name}.");
        }
    }
}
