using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Grains;

/// <summary>The rights and lifecycle rules at the grain level, through a real silo and its storage.</summary>
public sealed class SubjectLifecycleGrainTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly IGrainFactory _grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();

    [Fact]
    public async Task Erase_removes_the_data_archives_the_receipts_under_a_token_and_allows_consent_again()
    {
        var store = await StoreWithPolicy();
        var subject = Subject(store, "u1");
        await Grant(subject, Purpose.Analytics, true);
        await Grant(subject, Purpose.Analytics, false);
        var receipts = (await subject.GetRecord())!.Receipts;

        await subject.Erase();

        var record = await subject.GetRecord();
        Assert.Equal(SubjectStatus.Erased, record!.Status);
        Assert.Empty(record.Consents);
        Assert.Equal(ReceiptEvent.Erased, Assert.Single(record.Receipts).Event);
        Assert.Equal(DecisionReason.NoConsent, (await Decide(subject, Purpose.Analytics)).Reason);

        var archive = Assert.Single(await fixture.Database.ArchiveKeysAsync(store));
        Assert.DoesNotContain("u1", archive, StringComparison.Ordinal);
        var archived = await _grains.GetGrain<IReceiptArchiveGrain>(archive).GetReceipts();
        Assert.Equal(receipts.Select(r => r.Hash), archived.Select(r => r.Hash));
        Assert.Null(ReceiptChain.FirstBroken(archived));

        await Grant(subject, Purpose.Analytics, true);
        Assert.Equal(DecisionReason.Granted, (await Decide(subject, Purpose.Analytics)).Reason);
        Assert.Equal(SubjectStatus.Active, (await subject.GetRecord())!.Status);
    }

    [Fact]
    public async Task Cancellation_is_irreversible()
    {
        var store = await StoreWithPolicy();
        var subject = Subject(store, "u1");
        await Grant(subject, Purpose.Analytics, true);

        await subject.Cancel();

        Assert.Equal(DecisionReason.AccountCancelled, (await Decide(subject, Purpose.Analytics)).Reason);
        Assert.Equal(DecisionReason.AccountCancelled, (await Decide(subject, Purpose.Cart)).Reason);
        Assert.Equal(DecisionReason.Necessary, (await Decide(subject, Purpose.Necessary)).Reason);
        Assert.Equal(ConsentWriteStatus.SubjectCancelled, (await Grant(subject, Purpose.Analytics, true)).Status);
        Assert.Equal(ConsentWriteStatus.SubjectCancelled, await subject.SetMinor(false));
        await subject.Erase();
        Assert.Equal(SubjectStatus.Cancelled, (await subject.GetRecord())!.Status);
    }

    [Fact]
    public async Task A_minor_is_answered_minor_and_its_data_is_gone()
    {
        var store = await StoreWithPolicy();
        var subject = Subject(store, "u1");
        await Grant(subject, Purpose.Recommendation, true);

        Assert.Equal(ConsentWriteStatus.Recorded, await subject.SetMinor(true));

        var record = await subject.GetRecord();
        Assert.Equal(SubjectStatus.Minor, record!.Status);
        Assert.Empty(record.Consents);
        Assert.Equal(ReceiptEvent.MinorSet, Assert.Single(record.Receipts).Event);
        Assert.Equal(DecisionReason.Minor, (await Decide(subject, Purpose.Cart)).Reason);
        Assert.Equal(ConsentWriteStatus.SubjectMinor, (await Grant(subject, Purpose.Analytics, true)).Status);
    }

    [Fact]
    public async Task Linking_keeps_the_accounts_choices_carries_the_rest_and_deletes_the_visitor()
    {
        var store = await StoreWithPolicy();
        var visitor = Subject(store, "anon:v1");
        var account = Subject(store, "acct1");
        await Grant(visitor, Purpose.Analytics, true);
        await Grant(visitor, Purpose.Recommendation, true);
        await Grant(account, Purpose.Analytics, false);

        var linked = await account.Link("anon:v1");

        Assert.Equal(ConsentWriteStatus.Recorded, linked.Status);
        Assert.False(linked.Record!.Consents[Purpose.Analytics].Granted);
        Assert.True(linked.Record.Consents[Purpose.Recommendation].Granted);
        var carried = Assert.Single(linked.Record.Receipts, r => r.LinkedFrom is not null && r.Event == ReceiptEvent.Consent);
        Assert.Equal(("anon:v1", Purpose.Recommendation), (carried.LinkedFrom, carried.Purpose));
        Assert.Single(linked.Record.Receipts, r => r is { Event: ReceiptEvent.Linked, LinkedFrom: "anon:v1" });
        Assert.Null(ReceiptChain.FirstBroken(linked.Record.Receipts));
        Assert.Null(await visitor.GetRecord());
        Assert.Equal(ConsentWriteStatus.NotLinkable, (await visitor.Link("anon:v2")).Status);
        Assert.Equal(ConsentWriteStatus.NotLinkable, (await account.Link("acct2")).Status);
    }

    [Fact]
    public async Task Explain_returns_the_same_decision_as_decide_with_its_trace()
    {
        var store = await StoreWithPolicy();
        var subject = Subject(store, "u1");
        await Grant(subject, Purpose.Analytics, true);
        Purpose[] purposes = [Purpose.Necessary, Purpose.Cart, Purpose.Analytics, Purpose.Advertising, Purpose.Recommendation];
        var signals = new RequestSignals(Dnt: true, Gpc: false);

        var decided = await subject.Decide(purposes, signals);
        var explained = await subject.Explain(purposes, signals);

        Assert.Equal(decided.Decisions, explained.Decisions.Select(d => d.Decision));
        Assert.Equal([1, 6, 8, 7, 12], explained.Decisions.Select(d => d.Trace[^1].Rule));
        Assert.All(explained.Decisions, d => Assert.Equal(Enumerable.Range(1, d.Trace.Length), d.Trace.Select(s => s.Rule)));
        Assert.All(explained.Decisions, d => Assert.True(d.Trace[^1].Applied && d.Trace[..^1].All(s => !s.Applied)));
    }

    private ISubjectGrain Subject(string store, string subjectId) => _grains.GetGrain<ISubjectGrain>(SubjectKey.Of(store, subjectId));

    private async Task<string> StoreWithPolicy()
    {
        var store = "life-" + Guid.NewGuid().ToString("N")[..8];
        var purposes = ImmutableDictionary<Purpose, PurposeSetting>.Empty
            .Add(Purpose.Analytics, new PurposeSetting(true, false))
            .Add(Purpose.Recommendation, new PurposeSetting(true, false));
        var published = await _grains.GetGrain<IStoreGrain>(store).PublishPolicy(new PolicyUpdate(1, StoreStatus.Active, true, purposes));
        Assert.Equal(PolicyPublishStatus.Published, published.Status);
        return store;
    }

    private static Task<ConsentWriteResult> Grant(ISubjectGrain subject, Purpose purpose, bool granted) =>
        subject.SetConsents(new ConsentUpdate(
            ImmutableDictionary<Purpose, bool>.Empty.Add(purpose, granted), 1, ConsentSource.Api, RequestSignals.None));

    private static async Task<Decision> Decide(ISubjectGrain subject, Purpose purpose) =>
        (await subject.Decide([purpose], RequestSignals.None)).Decisions[0];
}
