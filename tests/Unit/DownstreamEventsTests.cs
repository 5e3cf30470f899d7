using System.Collections.Immutable;
using System.Text.Json.Nodes;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Unit;

/// <summary>
/// Which record changes make a downstream event (<see cref="DownstreamEvents.Between"/>), the retry backoff, and the
/// signature a receiver checks.
/// </summary>
public sealed class DownstreamEventsTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Status_changes_to_erased_cancelled_or_minor_are_events_and_nothing_else_about_status_is()
    {
        var active = Record(SubjectStatus.Active, (Purpose.Analytics, true));
        Assert.Equal("deletion", Type(active, Record(SubjectStatus.Erased)));
        Assert.Equal("cancellation", Type(active, Record(SubjectStatus.Cancelled)));
        Assert.Equal("minor", Type(active, Record(SubjectStatus.Minor)));
        Assert.Equal("cancellation", Type(Record(SubjectStatus.Minor), Record(SubjectStatus.Cancelled)));
        Assert.Null(Type(Record(SubjectStatus.Minor), Record(SubjectStatus.Active)));
        Assert.Null(Type(Record(SubjectStatus.Cancelled), Record(SubjectStatus.Cancelled)));
        Assert.Null(Type(Record(SubjectStatus.Erased), Record(SubjectStatus.Active, (Purpose.Analytics, true))));
    }

    [Fact]
    public void A_withdrawal_is_an_event_naming_every_purpose_that_became_withdrawn()
    {
        var before = Record(SubjectStatus.Active, (Purpose.Analytics, true), (Purpose.Advertising, false));
        var after = Record(SubjectStatus.Active, (Purpose.Analytics, false), (Purpose.Advertising, false), (Purpose.Recommendation, false));
        var outgoing = DownstreamEvents.Between("s1", "u1", before, after, At)!;
        var body = JsonNode.Parse(outgoing.Body)!;
        Assert.Equal("withdrawal", body["type"]!.GetValue<string>());
        Assert.Equal(["analytics", "recommendation"], body["purposes"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Equal(outgoing.Id, body["id"]!.GetValue<string>());
        Assert.Equal("s1", body["storeId"]!.GetValue<string>());
        Assert.Equal("u1", body["subjectId"]!.GetValue<string>());
        Assert.Equal("2026-12-05T08:00:00Z", body["at"]!.GetValue<string>());
        Assert.Null(DownstreamEvents.Between("s1", "u1", after, after with { }, At));
        Assert.Null(DownstreamEvents.Between("s1", "u1", after, Record(SubjectStatus.Active, (Purpose.Analytics, true)), At));
    }

    [Fact]
    public void Backoff_doubles_from_the_initial_delay_up_to_the_cap()
    {
        var settings = new DownstreamOptions { RetryInitialDelay = TimeSpan.FromSeconds(1), RetryMaxDelay = TimeSpan.FromSeconds(10) };
        Assert.Equal([1, 2, 4, 8, 10, 10], Enumerable.Range(1, 6).Select(a => DownstreamDeliveryGrain.Backoff(a, settings).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(10), DownstreamDeliveryGrain.Backoff(int.MaxValue, settings));
    }

    [Fact]
    public void A_signature_verifies_only_for_its_secret_body_and_a_fresh_timestamp()
    {
        const string Secret = "0123456789abcdef";
        const string Body = """{"id":"e1"}""";
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var signature = WebhookSignature.Sign(Secret, now.ToUnixTimeSeconds(), Body);
        var timestamp = now.ToUnixTimeSeconds().ToString();
        var tolerance = TimeSpan.FromMinutes(5);
        Assert.StartsWith("v1=", signature);
        Assert.True(WebhookSignature.Verify(Secret, timestamp, signature, Body, now, tolerance));
        Assert.False(WebhookSignature.Verify("another-secret-0000", timestamp, signature, Body, now, tolerance));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, signature, """{"id":"e2"}""", now, tolerance));
        Assert.False(WebhookSignature.Verify(Secret, (now.ToUnixTimeSeconds() + 1).ToString(), signature, Body, now, tolerance));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, signature, Body, now.AddMinutes(6), tolerance));
    }

    private static string? Type(SubjectRecord before, SubjectRecord after) => DownstreamEvents.Between("s1", "u1", before, after, At)?.Type;

    private static SubjectRecord Record(SubjectStatus status, params (Purpose Purpose, bool Granted)[] choices) => new()
    {
        Status = status,
        Consents = choices.ToDictionary(c => c.Purpose, c => new ConsentChoice(c.Granted, 1, At, ConsentSource.Banner, false, false))
            .ToImmutableDictionary(),
    };
}
