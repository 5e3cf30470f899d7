using Microsoft.Extensions.Options;
using ShopAstro.Coherence;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Stats;

namespace ShopAstro.EdgeApi.Decisions;

public sealed class DecisionCacheOptions
{
    public const string Section = "DecisionCache";

    /// <summary>Off: every check is a call to the subject grain.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How many batches of lease requests may be on their way to the cluster at once (<see cref="LeaseRequestBatches"/>);
    /// 0 (the default): each lease request is a call of its own to its subject grain. Batches did not pay on the
    /// loopback test machine (load-tests/results: more CPU per check, not less); they may where a message costs more.
    /// </summary>
    public int LeaseBatchesInFlight { get; set; }

    /// <summary>
    /// The most subject leases held (they run until revoked): past it, others are dropped, and their subjects' next
    /// checks ask their grains again. About 300 bytes each.
    /// </summary>
    public int MaxSubjects { get; set; } = 1_000_000;
}

/// <summary>
/// This edge process's copy of subjects' decision inputs, held as leases granted by the subject grains, so that a
/// check is a dictionary lookup and the precedence table instead of a grain call. The protocol lives in
/// <see cref="HeldLeases"/>, <see cref="HeldAbsences"/>, <see cref="HeldDecisionInputs"/> and <see cref="HolderEpoch"/> (docs/coherence.md); this
/// class wires it to the cluster: it answers the grains' revocations, keeps the registration with the lease holder
/// registry alive, and counts what it decides.
/// </summary>
public sealed partial class DecisionCache : IDecisionLeaseHolder, IHostedService, IDisposable
{
    /// <summary>How often the registration is renewed: well within <see cref="ILeaseHolderRegistryGrain.Expiry"/>.</summary>
    public static readonly TimeSpan RegistrationPeriod = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan SweepPeriod = TimeSpan.FromSeconds(5);

    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly StoreStatsCollector _stats;
    private readonly EdgeMetrics _metrics;
    private readonly IOptions<DecisionCacheOptions> _options;
    private readonly ILogger<DecisionCache> _logger;
    private readonly HolderEpoch _epoch;
    private readonly HeldLeases _leases;
    private readonly HeldAbsences _absences;
    private readonly HeldDecisionInputs _inputs;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _referenceLock = new();
    private IDecisionLeaseHolder? _reference;
    private IDecisionLeaseBatchGrain? _batchGrain;
    private Task? _maintenance;

    public DecisionCache(
        IGrainFactory grains, TimeProvider time, StoreStatsCollector stats, EdgeMetrics metrics, IOptions<DecisionCacheOptions> options,
        ILogger<DecisionCache> logger)
    {
        (_grains, _time, _stats, _metrics, _options, _logger) = (grains, time, stats, metrics, options, logger);
        _epoch = new HolderEpoch(time);
        Func<string, Task<DecisionLease>> request = key => _grains.Of<ISubjectGrain>(key).LeaseDecisions(Reference).AsTask();
        if (options.Value.LeaseBatchesInFlight > 0)
        {
            var batches = new LeaseRequestBatches(asks => BatchGrain.LeaseDecisions(Reference, asks), options.Value.LeaseBatchesInFlight,
                time, LeaseRequestBatches.DefaultSlowAfter);
            metrics.ObserveLeaseBatches(() => batches.Requests, () => batches.Batches);
            request = batches.RequestAsync;
        }

        _leases = new HeldLeases(time, _epoch, request, options.Value.MaxSubjects);
        metrics.ObserveSubjectLeases(() => _leases.Count, () => _leases.Dropped);
        _absences = new HeldAbsences(time, _epoch, (storeId, epoch, since) => _grains.Of<IStoreGrain>(storeId).LeaseAbsence(Reference, epoch, since),
            (exception, storeId) => LogAbsenceFailed(exception, storeId));
        _inputs = new HeldDecisionInputs(time, _leases, _absences);
    }

    public bool Enabled => _options.Value.Enabled;

    /// <summary>Cached subjects (leases not yet swept), for metrics and tests.</summary>
    public int Count => _leases.Count;

    /// <summary>Whether checks are answered here right now (registered, not lapsed).</summary>
    public bool Active => _epoch.Active;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled)
        {
            _maintenance = Task.Run(MaintainAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _epoch.End();
        await _stopping.CancelAsync();
        if (_maintenance is not null)
        {
            await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        try
        {
            await _grains.GetGrain<ILeaseHolderRegistryGrain>(0).Unregister(Reference).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
        }
        catch (Exception exception)
        {
            // The registration expires by itself.
            LogRegistrationFailed(exception);
        }
    }

    /// <summary>
    /// The decisions for one subject, into <paramref name="decided"/> (one per purpose, in their order), if this process
    /// can decide it without a grain call: the batch's path, which allocates no decision set per subject.
    /// </summary>
    public bool TryDecide(string storeId, string subjectId, ReadOnlySpan<Purpose> purposes, RequestSignals signals, Span<Decision> decided) =>
        Enabled && TryDecideHere(storeId, subjectId, purposes, signals, decided, out _);

    /// <summary>The decisions for one subject: from a valid lease here, else from a new one.</summary>
    public ValueTask<DecisionSet> DecideAsync(string storeId, string subjectId, Purpose[] purposes, RequestSignals signals)
    {
        if (!Enabled)
        {
            _metrics.Looked(CacheLookup.Grain);
            return _grains.Of<ISubjectGrain>(SubjectKey.Of(storeId, subjectId)).Decide(purposes, signals);
        }

        var decisions = new Decision[purposes.Length];
        if (TryDecideHere(storeId, subjectId, purposes, signals, decisions, out var policyVersion))
        {
            return ValueTask.FromResult(new DecisionSet(policyVersion, decisions));
        }

        return DecideAfterLease(storeId, SubjectKey.Of(storeId, subjectId), purposes, signals);
    }

    /// <summary>
    /// From the subject's lease and the store's policy, or from the store's absence lease when the subject has no
    /// record. The lease is looked up by a key on the stack: a check answered here allocates no key.
    /// </summary>
    private bool TryDecideHere(
        string storeId, string subjectId, ReadOnlySpan<Purpose> purposes, RequestSignals signals, Span<Decision> decided, out int? policyVersion)
    {
        if (_inputs.TryGet(storeId, subjectId, SubjectKey.Of(storeId, subjectId, stackalloc char[SubjectKey.StackLength]), out var record, out var policy, out var absent))
        {
            _metrics.Looked(absent ? CacheLookup.Absent : CacheLookup.Hit);
            Decide(storeId, policy, record, purposes, signals, decided);
            policyVersion = policy?.Version;
            return true;
        }

        policyVersion = null;
        return false;
    }

    private async ValueTask<DecisionSet> DecideAfterLease(string storeId, string key, Purpose[] purposes, RequestSignals signals)
    {
        if (Active)
        {
            _metrics.Looked(CacheLookup.Lease);
            var (held, record, policy) = await _inputs.LeaseAsync(storeId, key, _time.GetTimestamp());
            if (held)
            {
                return Decide(storeId, policy, record, purposes, signals);
            }
        }
        else
        {
            _metrics.Looked(CacheLookup.Grain);
        }

        return await _grains.Of<ISubjectGrain>(key).Decide(purposes, signals);
    }

    public Task Revoke(string storeId, string subjectId)
    {
        _leases.Revoke(SubjectKey.Of(storeId, subjectId));
        // A subject being revoked has (or had) a record: never decided as absent here again (see IDecisionLeaseHolder.Revoke).
        _absences.AddPresent(storeId, subjectId);
        return Task.CompletedTask;
    }

    public Task AddPresent(string storeId, string subjectId)
    {
        _absences.AddPresent(storeId, subjectId);
        return Task.CompletedTask;
    }

    public Task RevokeAbsence(string storeId)
    {
        _absences.Revoke(storeId);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        // Registered both as itself and as a hosted service: disposed twice.
        if (!_stopping.IsCancellationRequested)
        {
            _stopping.Cancel();
        }
    }

    private DecisionSet Decide(string storeId, StorePolicy? policy, SubjectRecord subject, Purpose[] purposes, RequestSignals signals)
    {
        var decisions = new Decision[purposes.Length];
        Decide(storeId, policy, subject, purposes, signals, decisions);
        return new DecisionSet(policy?.Version, decisions);
    }

    private void Decide(string storeId, StorePolicy? policy, SubjectRecord subject, ReadOnlySpan<Purpose> purposes, RequestSignals signals, Span<Decision> decided)
    {
        var counters = _stats.For(storeId);
        for (var i = 0; i < purposes.Length; i++)
        {
            decided[i] = DecisionEngine.Decide(policy, subject, purposes[i], signals);
            counters.Checked(decided[i]);
        }
    }

    /// <summary>
    /// This process as a lease holder, until the registry expels it: then another reference (a new holder to the
    /// cluster) takes its place, and the expelled one is never registered again.
    /// </summary>
    private IDecisionLeaseHolder Reference
    {
        get
        {
            lock (_referenceLock)
            {
                return _reference ??= _grains.CreateObjectReference<IDecisionLeaseHolder>(this);
            }
        }
    }

    /// <summary>Made on first use: a client knows which grain serves an interface only once it has joined the cluster.</summary>
    private IDecisionLeaseBatchGrain BatchGrain => _batchGrain ??= _grains.GetGrain<IDecisionLeaseBatchGrain>(0);

    private async Task MaintainAsync()
    {
        var lastSweep = _time.GetTimestamp();
        while (!_stopping.IsCancellationRequested)
        {
            await RegisterAsync();
            if (_time.GetElapsedTime(lastSweep) >= SweepPeriod)
            {
                _leases.Sweep();
                lastSweep = _time.GetTimestamp();
            }

            try
            {
                await Task.Delay(RegistrationPeriod, _time, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RegisterAsync()
    {
        var sentAt = _time.GetTimestamp();
        var reference = Reference;
        try
        {
            if (!await _grains.GetGrain<ILeaseHolderRegistryGrain>(0).Register(reference).WaitAsync(RegistrationPeriod, _time))
            {
                Expelled(reference);
                await RegisterAsync();
                return;
            }
        }
        catch (Exception exception)
        {
            LogRegistrationFailed(exception);
            return;
        }

        if (_epoch.Confirmed(sentAt, ILeaseHolderRegistryGrain.Expiry, RegistrationPeriod))
        {
            // First registration, or after a lapse: nothing held before is trusted again.
            _leases.Clear();
            _absences.Clear();
            LogRegistered();
        }
    }

    /// <summary>
    /// The registry expelled <paramref name="reference"/> (a revocation sent to it was not confirmed in time): nothing
    /// held is used again, and the next registration is of a new reference, in a new epoch.
    /// </summary>
    private void Expelled(IDecisionLeaseHolder reference)
    {
        _epoch.End();
        _leases.Clear();
        _absences.Clear();
        lock (_referenceLock)
        {
            if (ReferenceEquals(_reference, reference))
            {
                _reference = null;
            }
        }

        _grains.DeleteObjectReference<IDecisionLeaseHolder>(reference);
        LogExpelled();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Decision cache: expelled by the lease holder registry (a revocation was not confirmed in time); dropped every lease, registering anew")]
    private partial void LogExpelled();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Decision cache: registration with the lease holder registry failed; checks go to the grains once it lapses")]
    private partial void LogRegistrationFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Decision cache: the absence lease of store {StoreId} could not be taken")]
    private partial void LogAbsenceFailed(Exception exception, string storeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Decision cache: registered, answering checks from leases")]
    private partial void LogRegistered();
}
