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
/// One shopper at one store: the consent and rights rules (what a write, a link, an erasure, a cancellation or a minor
/// flag does to the record) and their effects beside the record (statistics, the live feed, downstream events, the
/// receipt archive, an anonymous visitor's retention). Decisions come from memory: the persisted record and a leased
/// copy of the store policy; how both are leased to edges, and revoked before a change is acknowledged, is
/// <see cref="LeasedSubjectGrain"/>'s.
/// </summary>
internal sealed class SubjectGrain(SubjectGrainServices services)
    : LeasedSubjectGrain(services), ISubjectGrain, IRemindable
{
    private const string AnonymousPrefix = "anon:";

    private AnonymousRetention? _retention;
    private StoreStatsCollector.Counters _counters = null!;

    /// <summary>Made on first use: most subjects are not anonymous and never need it (per-grain memory is the budget).</summary>
    private AnonymousRetention Retention => _retention ??= new AnonymousRetention(this, Services.Options, Services.Logger);

    private bool IsAnonymous { get; set; }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await base.OnActivateAsync(cancellationToken);
        IsAnonymous = SubjectId.StartsWith(AnonymousPrefix, StringComparison.Ordinal);
        _counters = Services.Stats.For(StoreId);
    }

    public ValueTask<DecisionSet> Decide(Purpose[] purposes, RequestSignals signals) =>
        ReadWhenStoredAsync(static check => check.Grain.DecideNow(check.Purposes, check.Signals), (Grain: this, Purposes: purposes, Signals: signals));

    public async Task<ExplainedSet> Explain(Purpose[] purposes, RequestSignals signals) =>
        await ReadWhenStoredAsync(static check => check.Grain.ExplainNow(check.Purposes, check.Signals), (Grain: this, Purposes: purposes, Signals: signals));

    public async Task<ConsentWriteResult> SetConsents(ConsentUpdate update)
    {
        if (Refusal(Stored.State.Status) is { } refused)
        {
            await Settle();
            return new ConsentWriteResult(refused, null);
        }

        await EnsurePolicyAsync();
        if (Policy is not { } policy)
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
        var previous = Stored.State;
        var next = SubjectTransitions.WithChoices(previous, choices, at);
        await Persist(next);
        Announce(previous, next, at, countAsChoices: true);
        return new ConsentWriteResult(ConsentWriteStatus.Recorded, next);
    }

    public Task<SubjectRecord?> GetRecord() =>
        ReadRecordWhenStoredAsync(static grain => grain.Stored.RecordExists ? grain.Stored.State : null, this).AsTask();

    public async Task Erase()
    {
        if (!Stored.RecordExists)
        {
            await Settle();
        }
        else if (Stored.State.Status == SubjectStatus.Active)
        {
            await Tombstone(SubjectStatus.Erased);
        }
        else if (SubjectTransitions.NamesLinkedIds(Stored.State))
        {
            // Already a tombstone (cancellation and minority outlive a deletion request), whose receipt may still name
            // the visitor whose link made it a minor's.
            await Persist(SubjectTransitions.WithoutLinkedIds(Stored.State));
        }
        else
        {
            await Settle();
        }
    }

    public async Task Cancel()
    {
        if (Stored.State.Status == SubjectStatus.Cancelled)
        {
            await Settle();
            return;
        }

        await Tombstone(SubjectStatus.Cancelled);
    }

    public async Task<ConsentWriteStatus> SetMinor(bool minor)
    {
        var status = Stored.State.Status;
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
            await Persist(SubjectTransitions.MinorLifted(Stored.State, Now()));
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

        if (Refusal(Stored.State.Status) is { } refused)
        {
            await Settle();
            return new ConsentWriteResult(refused, null);
        }

        // An active visitor's data goes first, in one turn with handing it over. Should the account's write then
        // fail, the carried choices are lost, which leaves no consent: the safe direction. A minor or cancelled
        // visitor keeps its record and status; the link never weakens either.
        var visitor = GrainFactory.GetGrain<ISubjectGrain>(SubjectKey.Of(StoreId, anonymousSubjectId));
        switch (await visitor.TakeForLink(SubjectId))
        {
            case null:
                return new ConsentWriteResult(ConsentWriteStatus.Recorded, Stored.State);
            case { Status: SubjectStatus.Cancelled }:
                return new ConsentWriteResult(ConsentWriteStatus.SubjectCancelled, null);
            case { Status: SubjectStatus.Minor }:
                // As "age" would: the account's data goes, its receipt names the link.
                await Tombstone(SubjectStatus.Minor, anonymousSubjectId);
                return new ConsentWriteResult(ConsentWriteStatus.Recorded, Stored.State);
            case { } anonymous:
                // The account's own choices win; the visitor's fill the purposes the account has none for.
                var previous = Stored.State;
                var at = Now();
                await Persist(SubjectTransitions.Linked(previous, anonymous, anonymousSubjectId, at));
                Announce(previous, Stored.State, at, countAsChoices: false);
                return new ConsentWriteResult(ConsentWriteStatus.Recorded, Stored.State);
        }
    }

    public async Task<SubjectRecord?> TakeForLink(string accountSubjectId)
    {
        if (!Stored.RecordExists)
        {
            return null;
        }

        var record = Stored.State;
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

        if (!Stored.RecordExists || Retention.Due(Stored.State.LastWrittenAt, Now()))
        {
            if (Stored.RecordExists)
            {
                await ClearAll();
            }
            else
            {
                await Retention.AfterRowDeletedAsync();
            }
        }
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
        var previous = Stored.State;
        var at = Now();
        await Persist(SubjectTransitions.Tombstone(status, at, linkedFrom));
        Announce(previous, Stored.State, at, countAsChoices: false);
    }

    /// <summary>Nothing is left: the row is deleted, the receipts kept anonymised.</summary>
    private async Task ClearAll()
    {
        await ArchiveReceipts();
        var previous = Stored.State;
        await Delete(async () =>
        {
            await StoreAsync(() => Stored.ClearAsync(this, "erasure"), "erasure");
            Stored.State = SubjectRecord.Empty;
        });
        Announce(previous, Stored.State, Now(), countAsChoices: false);
        if (IsAnonymous)
        {
            await Retention.AfterRowDeletedAsync();
        }

        DeactivateOnIdle();
    }

    private void Announce(SubjectRecord before, SubjectRecord after, DateTimeOffset at, bool countAsChoices) =>
        SubjectChangeAnnouncement.Announce(GrainFactory, _counters, StoreId, SubjectId, before, after, at, countAsChoices);

    /// <summary>Under a token of this erasure alone, without the id of any visitor linked in (see <see cref="ReceiptChain.Anonymise"/>).</summary>
    private async Task ArchiveReceipts()
    {
        if (Stored.State.Receipts.Count > 0)
        {
            await GrainFactory.GetGrain<IReceiptArchiveGrain>(SubjectKey.Of(StoreId, Services.Anonymiser.NewToken(StoreId, SubjectId)))
                .Archive([.. Stored.State.Receipts.Select(ReceiptChain.Anonymise)]);
        }
    }

    private DateTimeOffset Now()
    {
        // Receipts carry millisecond times, as their hash does.
        var now = Services.Time.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
    }

    private DecisionSet DecideNow(Purpose[] purposes, RequestSignals signals)
    {
        var record = Stored.State;
        var policy = Policy;
        var decisions = new Decision[purposes.Length];
        for (var i = 0; i < purposes.Length; i++)
        {
            decisions[i] = DecisionEngine.Decide(policy, record, purposes[i], signals);
            _counters.Checked(decisions[i]);
        }

        return new DecisionSet(policy?.Version, decisions);
    }

    private ExplainedSet ExplainNow(Purpose[] purposes, RequestSignals signals)
    {
        var record = Stored.State;
        var policy = Policy;
        var explained = purposes.Select(purpose => DecisionEngine.Explain(policy, record, purpose, signals)).ToArray();
        foreach (var decision in explained)
        {
            _counters.Checked(decision.Decision);
        }

        return new ExplainedSet(policy?.Version, explained);
    }

    /// <summary>An anonymous visitor's row is never written without its retention reminder.</summary>
    private Task EnsureRetention() => IsAnonymous ? Retention.BeforeWriteAsync() : Task.CompletedTask;

    private async Task Persist(SubjectRecord next)
    {
        await EnsureRetention();
        IReadOnlyList<string> queuedFor = [];
        await Change(async () =>
        {
            var before = Stored.State;
            // The downstream event, if the change makes one, is committed in the transaction of this write.
            var outgoing = DownstreamEvents.Between(StoreId, SubjectId, before, next, next.LastWrittenAt ?? Now());
            using (var staged = outgoing is null ? null : Services.Outbox.Stage(GrainContext.GrainId, outgoing))
            {
                await StoreAsync(() => Stored.PersistAsync(next, this, "subject change"), "subject change");
                queuedFor = staged?.QueuedFor ?? [];
            }

            // After the commit, so that a store activation reading its index meanwhile misses nothing.
            await EnsurePresentAsync();
            return SubjectLeases.Restricts(before, next);
        });
        foreach (var system in queuedFor)
        {
            GrainFactory.GetGrain<IDownstreamDeliveryGrain>(DownstreamKeys.Of(StoreId, system)).Wake().Ignore();
        }
    }
}
