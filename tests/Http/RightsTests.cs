using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// The shopper's rights of policy-rules.md ("Subject rights and lifecycle") over HTTP: deletion with an
/// anonymised receipt archive, cancellation, minors, privacy signals, re-consent, linking, explanations,
/// the receipts' hash chain and data-subject requests.
/// </summary>
public sealed class RightsTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private static readonly string[] _checkedPurposes = ["analytics", "recommendation", "cart", "advertising", "affiliate_sharing"];

    private readonly HttpClient _admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    // ---------------------------------------------------------------- deletion (§4(2))

    [Fact]
    public async Task Deletion_erases_the_record_checks_answer_no_consent_and_the_shopper_may_consent_again()
    {
        var store = Unique("del");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));

        var deleted = await _admin.DeleteAsync($"/v1/stores/{store}/subjects/u1");
        await deleted.ShouldBeOkAsync(HttpStatusCode.NoContent);

        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "analytics"));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "recommendation"));
        Assert.Equal((true, "contract"), await _admin.DecideAsync(store, "u1", "cart"));
        var record = await GetSubjectAsync(store, "u1");
        Assert.Equal("erased", record["status"]!.GetValue<string>());
        Assert.Empty(record["consents"]!.AsObject());
        AssertEvents(record, "erased");

        var again = await _admin.SetConsentAsync(store, "u1", "analytics", true);
        await again.ShouldBeOkAsync();
        Assert.Equal("active", (await again.ReadJsonAsync())["status"]!.GetValue<string>());
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "recommendation"));
        var renewed = await GetSubjectAsync(store, "u1");
        Assert.Equal("active", renewed["status"]!.GetValue<string>());
        Assert.True(renewed["consents"]!["analytics"]!["granted"]!.GetValue<bool>());
        AssertEvents(renewed, "erased", "consent");
        AssertChainVerifies(renewed);
    }

    [Fact]
    public async Task Deleting_a_subject_never_written_is_204_and_it_stays_unknown()
    {
        var store = Unique("delnone");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();

        await (await _admin.DeleteAsync($"/v1/stores/{store}/subjects/ghost")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await _admin.GetAsync($"/v1/stores/{store}/subjects/ghost")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "subject_not_found");
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "ghost", "analytics"));
    }

    [Fact]
    public async Task Deletion_keeps_the_receipts_only_in_the_anonymised_archive()
    {
        var store = Unique("archive");
        var subject = "shopper-" + Guid.NewGuid().ToString("N")[..10];
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, subject, "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, subject, "recommendation", true, dnt: true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, subject, "analytics", false)).ShouldBeOkAsync();
        var before = (await GetSubjectAsync(store, subject))["receipts"]!.AsArray()
            .Select(r => (r!["receiptId"]!.GetValue<string>(), r["hash"]!.GetValue<string>())).ToList();
        Assert.Equal(3, before.Count);

        await (await _admin.DeleteAsync($"/v1/stores/{store}/subjects/{subject}")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        // The archive holds the very receipts, under a token that does not reveal the subject.
        var token = Assert.Single(await fixture.Database.ArchiveKeysAsync(store))[(store.Length + 1)..];
        Assert.DoesNotContain(subject, token, StringComparison.Ordinal);
        var grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();
        var archived = await grains.GetGrain<IReceiptArchiveGrain>($"{store}/{token}").GetReceipts();
        Assert.Equal(before, archived.Select(r => (r.ReceiptId, r.Hash)).ToList());
        Assert.Null(ReceiptChain.FirstBroken(archived));

        // In the store, only the subject's own tombstone still names it: the archive is keyed by the token
        // and no payload carries the subject id.
        var naming = await fixture.Database.ExecuteAsync($"""
            SELECT group_concat(GrainTypeString || '=' || GrainIdExtensionString, ';') FROM ConsentGrainState
            WHERE instr(GrainIdExtensionString, '{subject}') > 0 OR instr(PayloadBinary, CAST('{subject}' AS BLOB)) > 0
            """);
        Assert.Equal($"subject={store}/{subject}", naming as string);
        Assert.Equal(1L, Convert.ToInt64(await fixture.Database.ExecuteAsync(
            $"SELECT COUNT(*) FROM ConsentGrainState WHERE GrainIdExtensionString = '{store}/{token}'")));

        // The stored form writes strings as their UTF-8 bytes, so searching the blobs for an id finds it where it is:
        // the archive holds every receipt id.
        var archive = Assert.IsType<byte[]>(await fixture.Database.ExecuteAsync(
            $"SELECT PayloadBinary FROM ConsentGrainState WHERE GrainIdExtensionString = '{store}/{token}'"));
        Assert.All(before, receipt => Assert.True(Contains(archive, receipt.Item1), $"The archive lacks receipt {receipt.Item1}."));

        // The tombstone keeps the status, not the receipts.
        var tombstone = Assert.IsType<byte[]>(await fixture.Database.ExecuteAsync(
            $"SELECT PayloadBinary FROM ConsentGrainState WHERE GrainTypeString = 'subject' AND GrainIdExtensionString = '{store}/{subject}'"));
        foreach (var (receiptId, hash) in before)
        {
            Assert.False(Contains(tombstone, receiptId), $"The tombstone still holds receipt {receiptId}.");
            Assert.False(Contains(tombstone, hash), $"The tombstone still holds the hash {hash}.");
        }
    }

    // ---------------------------------------------------------------- cancellation (§4(3))

    [Fact]
    public async Task Cancellation_denies_every_check_but_necessary_with_account_cancelled()
    {
        var store = Unique("cancel");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true)).ShouldBeOkAsync();
        var receiptIds = ReceiptIds(await GetSubjectAsync(store, "u1"));

        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);

        foreach (var purpose in _checkedPurposes)
        {
            Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", purpose));
        }

        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true, gpc: true));
        Assert.Equal((true, "necessary"), await _admin.DecideAsync(store, "u1", "necessary"));
        var record = await GetSubjectAsync(store, "u1");
        Assert.Equal("cancelled", record["status"]!.GetValue<string>());
        Assert.Empty(record["consents"]!.AsObject());
        AssertEvents(record, "cancelled");

        // Data removed as for deletion: the receipts live on only anonymised.
        var archived = await (await SingleArchive(store)).GetReceipts();
        Assert.Equal(receiptIds, archived.Select(r => r.ReceiptId).ToList());
    }

    [Fact]
    public async Task A_cancelled_account_refuses_consent_and_age_writes_and_records_nothing()
    {
        var store = Unique("cancelw");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", false)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        await (await PutAgeAsync(store, "u1", """{"minor":true}""")).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        await (await PutAgeAsync(store, "u1", """{"minor":false}""")).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        // Cancelling again changes nothing either.
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);

        var record = await GetSubjectAsync(store, "u1");
        Assert.Equal("cancelled", record["status"]!.GetValue<string>());
        Assert.Empty(record["consents"]!.AsObject());
        AssertEvents(record, "cancelled");
        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    [Fact]
    public async Task Deleting_a_cancelled_account_keeps_it_cancelled()
    {
        var store = Unique("canceldel");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await _admin.DeleteAsync($"/v1/stores/{store}/subjects/u1")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        Assert.Equal("cancelled", (await GetSubjectAsync(store, "u1"))["status"]!.GetValue<string>());
        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "analytics"));
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
    }

    [Fact]
    public async Task Cancelling_an_account_never_written_still_refuses_later_writes()
    {
        var store = Unique("cancelnew");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();

        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);

        Assert.Equal("cancelled", (await GetSubjectAsync(store, "u1"))["status"]!.GetValue<string>());
        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "cart"));
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
    }

    [Fact]
    public async Task Linking_into_a_cancelled_account_is_409_and_leaves_the_visitor_alone()
    {
        var store = Unique("cancellink");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "recommendation", true)).ShouldBeOkAsync();
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await LinkAsync(store, "u1", """{"anonymousId":"anon:x"}""")).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");

        var account = await GetSubjectAsync(store, "u1");
        Assert.Equal("cancelled", account["status"]!.GetValue<string>());
        AssertEvents(account, "cancelled");
        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "recommendation"));
        // Nothing happened: the visitor's choice is still its own.
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "anon:x", "recommendation"));
    }

    [Fact]
    public async Task A_storefront_may_set_the_age_and_link_but_not_delete_or_cancel()
    {
        var storefront = fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        var subject = "sf-" + Guid.NewGuid().ToString("N")[..10];
        // The storefront token covers s1 only; another test of this class may have published its policy already.
        var published = await _admin.PublishPolicyAsync("s1", 1);
        Assert.True(published.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, $"{(int)published.StatusCode}");
        await (await storefront.SetConsentAsync("s1", subject, "analytics", true)).ShouldBeOkAsync();

        await (await storefront.DeleteAsync($"/v1/stores/s1/subjects/{subject}")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await storefront.PostAsync($"/v1/stores/s1/subjects/{subject}/cancel", null)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal((true, "granted"), await storefront.DecideAsync("s1", subject, "analytics"));

        await (await storefront.PostAsync($"/v1/stores/s1/subjects/{subject}/link", ConsentApi.Json("""{"anonymousId":"anon:none"}""")))
            .ShouldBeOkAsync();
        await (await storefront.PutAsync($"/v1/stores/s1/subjects/{subject}/age", ConsentApi.Json("""{"minor":true}""")))
            .ShouldBeOkAsync(HttpStatusCode.NoContent);
        Assert.Equal((false, "minor"), await storefront.DecideAsync("s1", subject, "analytics"));
    }

    // ---------------------------------------------------------------- minors (§6)

    [Fact]
    public async Task Marking_a_minor_deletes_the_data_and_every_check_but_necessary_answers_minor()
    {
        var store = Unique("minor");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true)).ShouldBeOkAsync();

        await (await PutAgeAsync(store, "u1", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        var record = await GetSubjectAsync(store, "u1");
        Assert.Equal("minor", record["status"]!.GetValue<string>());
        Assert.Empty(record["consents"]!.AsObject());
        AssertEvents(record, "minor_set");
        foreach (var purpose in _checkedPurposes)
        {
            Assert.Equal((false, "minor"), await _admin.DecideAsync(store, "u1", purpose));
        }

        Assert.Equal((true, "necessary"), await _admin.DecideAsync(store, "u1", "necessary"));
        // Deleting a minor's (already deleted) data keeps the status that protects it.
        await (await _admin.DeleteAsync($"/v1/stores/{store}/subjects/u1")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        Assert.Equal("minor", (await GetSubjectAsync(store, "u1"))["status"]!.GetValue<string>());
        Assert.Equal((false, "minor"), await _admin.DecideAsync(store, "u1", "cart"));
    }

    [Fact]
    public async Task A_minor_cannot_consent_until_known_to_be_of_age_and_the_deleted_data_stays_deleted()
    {
        var store = Unique("minorw");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await PutAgeAsync(store, "u1", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_minor");
        AssertEvents(await GetSubjectAsync(store, "u1"), "minor_set");

        await (await PutAgeAsync(store, "u1", """{"minor":false}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        var adult = await GetSubjectAsync(store, "u1");
        Assert.Equal("active", adult["status"]!.GetValue<string>());
        Assert.Empty(adult["consents"]!.AsObject());
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "analytics"));
        Assert.Equal((true, "contract"), await _admin.DecideAsync(store, "u1", "cart"));

        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    [Fact]
    public async Task A_subject_never_written_can_be_marked_a_minor()
    {
        var store = Unique("minornew");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();

        await (await PutAgeAsync(store, "u1", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        Assert.Equal("minor", (await GetSubjectAsync(store, "u1"))["status"]!.GetValue<string>());
        Assert.Equal((false, "minor"), await _admin.DecideAsync(store, "u1", "analytics"));
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_minor");
    }

    [Fact]
    public async Task Only_a_seller_or_an_admin_may_lift_a_minor_flag()
    {
        var storefront = fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        var seller = fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var subject = "sf-minor-" + Guid.NewGuid().ToString("N")[..10];
        var published = await _admin.PublishPolicyAsync("s1", 1);
        Assert.True(published.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, $"{(int)published.StatusCode}");
        var age = $"/v1/stores/s1/subjects/{subject}/age";
        await (await storefront.PutAsync(age, ConsentApi.Json("""{"minor":true}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await storefront.PutAsync(age, ConsentApi.Json("""{"minor":false}"""))).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        Assert.Equal((false, "minor"), await storefront.DecideAsync("s1", subject, "cart"));
        AssertEvents(await GetSubjectAsync("s1", subject), "minor_set");
        await (await seller.PutAsync(age, ConsentApi.Json("""{"minor":false}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
        Assert.Equal((true, "contract"), await storefront.DecideAsync("s1", subject, "cart"));
        await (await storefront.PutAsync(age, ConsentApi.Json("""{"minor":true}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await _admin.PutAsync(age, ConsentApi.Json("""{"minor":false}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
        AssertEvents(await GetSubjectAsync("s1", subject), "minor_set", "minor_lifted");
    }

    [Fact]
    public async Task Every_status_change_leaves_a_receipt_that_says_why_consents_went()
    {
        var store = Unique("statusreceipts");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

        await (await PutAgeAsync(store, "u1", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        AssertEvents(await GetSubjectAsync(store, "u1"), "minor_set");
        await (await PutAgeAsync(store, "u1", """{"minor":false}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        AssertEvents(await GetSubjectAsync(store, "u1"), "minor_set", "minor_lifted");
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        AssertEvents(await GetSubjectAsync(store, "u1"), "minor_set", "minor_lifted", "consent");
        await (await _admin.DeleteAsync($"/v1/stores/{store}/subjects/u1")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        AssertEvents(await GetSubjectAsync(store, "u1"), "erased");
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);
        AssertEvents(await GetSubjectAsync(store, "u1"), "cancelled");

        // A link is recorded even when it carries nothing over.
        await (await _admin.SetConsentAsync(store, "u2", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:y", "analytics", false)).ShouldBeOkAsync();
        await (await LinkAsync(store, "u2", """{"anonymousId":"anon:y"}""")).ShouldBeOkAsync();
        AssertEvents(await GetSubjectAsync(store, "u2"), "consent", "linked");

        // Each erasure's receipts were archived, each chain whole.
        var grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();
        foreach (var archive in await fixture.Database.ArchiveKeysAsync(store))
        {
            Assert.Null(ReceiptChain.FirstBroken(await grains.GetGrain<IReceiptArchiveGrain>(archive).GetReceipts()));
        }
    }

    [Theory]
    [InlineData("{}", "minor_required")]
    [InlineData("""{"minor":null}""", "minor_required")]
    [InlineData("""{"minor":"true"}""", "invalid_json")]
    [InlineData("""{"minor":1}""", "invalid_json")]
    [InlineData("""{"minor":true""", "invalid_json")]
    [InlineData("[]", "invalid_json")]
    [InlineData("""{"minor":true,"minor":false}""", "invalid_json")]
    public async Task The_age_body_needs_a_boolean_minor(string body, string code)
    {
        var store = Unique("agebody");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

        await (await PutAgeAsync(store, "u1", body)).ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);

        Assert.Equal("active", (await GetSubjectAsync(store, "u1"))["status"]!.GetValue<string>());
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    // ---------------------------------------------------------------- privacy signals (rule 8)

    [Theory]
    // A grant given without signals yields to either signal; where both would, GPC is the reason.
    [InlineData(false, false, false, false, true, "granted")]
    [InlineData(false, false, true, false, false, "do_not_track")]
    [InlineData(false, false, false, true, false, "global_privacy_control")]
    [InlineData(false, false, true, true, false, "global_privacy_control")]
    // A grant given under a signal survives that signal, not the other one.
    [InlineData(true, false, true, false, true, "granted")]
    [InlineData(true, false, false, true, false, "global_privacy_control")]
    [InlineData(true, false, true, true, false, "global_privacy_control")]
    [InlineData(false, true, false, true, true, "granted")]
    [InlineData(false, true, true, false, false, "do_not_track")]
    [InlineData(false, true, true, true, false, "do_not_track")]
    [InlineData(true, true, true, true, true, "granted")]
    [InlineData(true, true, false, false, true, "granted")]
    public async Task A_browser_signal_overrides_a_grant_not_given_under_it(
        bool grantDnt, bool grantGpc, bool checkDnt, bool checkGpc, bool allowed, string reason)
    {
        var store = Unique("rule8");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        var write = await _admin.SetConsentAsync(store, "u1", "analytics", true, dnt: grantDnt, gpc: grantGpc);
        await write.ShouldBeOkAsync();
        var consent = (await write.ReadJsonAsync())["consents"]!["analytics"]!;
        Assert.Equal(grantDnt, consent["dnt"]!.GetValue<bool>());
        Assert.Equal(grantGpc, consent["gpc"]!.GetValue<bool>());

        Assert.Equal((allowed, reason), await _admin.DecideAsync(store, "u1", "analytics", dnt: checkDnt, gpc: checkGpc));
    }

    [Fact]
    public async Task A_signal_never_turns_a_withdrawal_or_no_choice_into_another_reason()
    {
        var store = Unique("rule8w");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", false)).ShouldBeOkAsync();

        Assert.Equal((false, "withdrawn"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true));
        Assert.Equal((false, "withdrawn"), await _admin.DecideAsync(store, "u1", "analytics", gpc: true));
        Assert.Equal((false, "withdrawn"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true, gpc: true));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "recommendation", dnt: true));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u2", "analytics", gpc: true));
        // Signals never touch purposes that do not rest on consent.
        Assert.Equal((true, "contract"), await _admin.DecideAsync(store, "u1", "cart", dnt: true, gpc: true));
        Assert.Equal((true, "necessary"), await _admin.DecideAsync(store, "u1", "necessary", dnt: true, gpc: true));
    }

    [Fact]
    public async Task Only_the_latest_grant_s_signals_count()
    {
        var store = Unique("rule8l");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, dnt: true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true));

        // Granted again, this time without the signal: the signal now overrides it.
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((false, "do_not_track"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    // ---------------------------------------------------------------- re-consent and store status

    [Fact]
    public async Task A_material_change_invalidates_older_grants_of_that_purpose_only()
    {
        var store = Unique("reconsent");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, policyVersion: 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true, policyVersion: 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u2", "recommendation", false, policyVersion: 1)).ShouldBeOkAsync();

        await (await _admin.PublishPolicyAsync(store, 2,
            """{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":true}}"""))
            .ShouldBeOkAsync();

        Assert.Equal((false, "reconsent_required"), await _admin.DecideAsync(store, "u1", "recommendation"));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
        Assert.Equal((false, "withdrawn"), await _admin.DecideAsync(store, "u2", "recommendation"));
        // A grant recorded now but under the outdated text is still not consent to the new one.
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true, policyVersion: 1)).ShouldBeOkAsync();
        Assert.Equal((false, "reconsent_required"), await _admin.DecideAsync(store, "u1", "recommendation"));

        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true, policyVersion: 2)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "recommendation"));

        // A later version without a material change keeps the renewed grant.
        await (await _admin.PublishPolicyAsync(store, 3)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "recommendation"));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    [Fact]
    public async Task A_suspended_store_denies_everything_but_necessary_and_resuming_restores_the_answers()
    {
        var store = Unique("suspend");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", false)).ShouldBeOkAsync();
        var before = new List<(bool, string)>();
        foreach (var purpose in _checkedPurposes)
        {
            before.Add(await _admin.DecideAsync(store, "u1", purpose));
        }

        Assert.Equal([(true, "granted"), (false, "withdrawn"), (true, "contract"), (false, "purpose_disabled"), (false, "purpose_disabled")], before);

        await (await _admin.PublishPolicyAsync(store, 2, status: "suspended")).ShouldBeOkAsync();
        Assert.Equal("suspended", (await (await _admin.GetAsync($"/v1/stores/{store}/policy")).ReadJsonAsync())["status"]!.GetValue<string>());
        foreach (var purpose in _checkedPurposes)
        {
            Assert.Equal((false, "store_suspended"), await _admin.DecideAsync(store, "u1", purpose));
        }

        Assert.Equal((false, "store_suspended"), await _admin.DecideAsync(store, "u9", "cart"));
        Assert.Equal((true, "necessary"), await _admin.DecideAsync(store, "u1", "necessary"));

        await (await _admin.PublishPolicyAsync(store, 3)).ShouldBeOkAsync();
        var after = new List<(bool, string)>();
        foreach (var purpose in _checkedPurposes)
        {
            after.Add(await _admin.DecideAsync(store, "u1", purpose));
        }

        Assert.Equal(before, after);
    }

    // ---------------------------------------------------------------- linking an anonymous visitor

    [Fact]
    public async Task Linking_carries_the_visitor_s_choices_where_the_account_has_none_and_deletes_the_visitor()
    {
        var store = Unique("link");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u", "analytics", false, source: "account_settings")).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "recommendation", true, dnt: true)).ShouldBeOkAsync();
        var accountReceipt = ReceiptIds(await GetSubjectAsync(store, "u")).Single();
        var visitorReceipts = ReceiptIds(await GetSubjectAsync(store, "anon:x"));

        var linked = await LinkAsync(store, "u", """{"anonymousId":"anon:x"}""");
        await linked.ShouldBeOkAsync();
        var merged = await linked.ReadJsonAsync();

        Assert.Equal("u", merged["subjectId"]!.GetValue<string>());
        Assert.Equal("active", merged["status"]!.GetValue<string>());
        // The account's own choice wins; the visitor's fills the gap, with the signal it was given under.
        Assert.False(merged["consents"]!["analytics"]!["granted"]!.GetValue<bool>());
        Assert.Equal("account_settings", merged["consents"]!["analytics"]!["source"]!.GetValue<string>());
        Assert.True(merged["consents"]!["recommendation"]!["granted"]!.GetValue<bool>());
        Assert.True(merged["consents"]!["recommendation"]!["dnt"]!.GetValue<bool>());
        var receipts = merged["receipts"]!.AsArray();
        AssertEvents(merged, "consent", "linked", "consent");
        Assert.Equal(accountReceipt, receipts[0]!["receiptId"]!.GetValue<string>());
        Assert.Null(receipts[0]!.AsObject()["linkedFrom"]);
        Assert.False(receipts[0]!.AsObject().ContainsKey("linkedFrom"));
        Assert.Equal("anon:x", receipts[1]!["linkedFrom"]!.GetValue<string>());
        Assert.Equal("recommendation", receipts[2]!["purpose"]!.GetValue<string>());
        Assert.True(receipts[2]!["granted"]!.GetValue<bool>());
        Assert.Equal("anon:x", receipts[2]!["linkedFrom"]!.GetValue<string>());
        AssertChainVerifies(merged);
        // The response is what is stored.
        Assert.True(JsonNode.DeepEquals(merged, await GetSubjectAsync(store, "u")));

        Assert.Equal((false, "withdrawn"), await _admin.DecideAsync(store, "u", "analytics"));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u", "recommendation"));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u", "recommendation", dnt: true));

        // The visitor is gone: its row cleared, its receipts only in the anonymised archive.
        await (await _admin.GetAsync($"/v1/stores/{store}/subjects/anon:x")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "subject_not_found");
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "anon:x", "analytics"));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "anon:x", "recommendation"));
        Assert.Equal(0L, Convert.ToInt64(await fixture.Database.ExecuteAsync(
            $"SELECT COUNT(*) FROM ConsentGrainState WHERE GrainIdExtensionString = '{store}/anon:x'")));
        Assert.Equal(visitorReceipts, (await (await SingleArchive(store)).GetReceipts()).Select(r => r.ReceiptId).ToList());
    }

    [Fact]
    public async Task Linking_into_an_account_never_written_gives_it_the_visitor_s_choices()
    {
        var store = Unique("linknew");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "analytics", true)).ShouldBeOkAsync();

        var linked = await LinkAsync(store, "fresh", """{"anonymousId":"anon:x"}""");
        await linked.ShouldBeOkAsync();

        var account = await GetSubjectAsync(store, "fresh");
        Assert.True(JsonNode.DeepEquals(await linked.ReadJsonAsync(), account));
        AssertEvents(account, "linked", "consent");
        Assert.All(account["receipts"]!.AsArray(), r => Assert.Equal("anon:x", r!["linkedFrom"]!.GetValue<string>()));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "fresh", "analytics"));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "anon:x", "analytics"));
        AssertChainVerifies(account);
    }

    [Fact]
    public async Task Linking_into_a_minor_s_account_is_409_and_carries_nothing()
    {
        var store = Unique("linkminor");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "analytics", true)).ShouldBeOkAsync();
        await (await PutAgeAsync(store, "u", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        await (await LinkAsync(store, "u", """{"anonymousId":"anon:x"}""")).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_minor");

        Assert.Empty((await GetSubjectAsync(store, "u"))["consents"]!.AsObject());
        Assert.Equal((false, "minor"), await _admin.DecideAsync(store, "u", "analytics"));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "anon:x", "analytics"));
    }

    [Fact]
    public async Task Linking_a_visitor_that_never_wrote_leaves_the_account_unchanged()
    {
        var store = Unique("linknone");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u", "analytics", true)).ShouldBeOkAsync();
        var before = await GetSubjectAsync(store, "u");

        var linked = await LinkAsync(store, "u", """{"anonymousId":"anon:nobody"}""");
        await linked.ShouldBeOkAsync();

        Assert.True(JsonNode.DeepEquals(before, await linked.ReadJsonAsync()));
        Assert.True(JsonNode.DeepEquals(before, await GetSubjectAsync(store, "u")));
        await (await _admin.GetAsync($"/v1/stores/{store}/subjects/anon:nobody")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Linking_a_minor_visitor_makes_the_account_a_minor_s_and_the_visitor_stays_a_minor()
    {
        var store = Unique("linkminorv");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u", "analytics", true)).ShouldBeOkAsync();
        var accountReceipts = ReceiptIds(await GetSubjectAsync(store, "u"));
        await (await _admin.SetConsentAsync(store, "anon:x", "recommendation", true)).ShouldBeOkAsync();
        await (await PutAgeAsync(store, "anon:x", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        var linked = await LinkAsync(store, "u", """{"anonymousId":"anon:x"}""");

        // The account is a minor's, as "age" would make it: its data gone, and the receipt says why.
        await linked.ShouldBeOkAsync();
        var account = await linked.ReadJsonAsync();
        Assert.True(JsonNode.DeepEquals(account, await GetSubjectAsync(store, "u")));
        Assert.Equal("minor", account["status"]!.GetValue<string>());
        Assert.Empty(account["consents"]!.AsObject());
        AssertEvents(account, "minor_set");
        Assert.Equal("anon:x", account["receipts"]![0]!["linkedFrom"]!.GetValue<string>());
        foreach (var purpose in _checkedPurposes)
        {
            Assert.Equal((false, "minor"), await _admin.DecideAsync(store, "u", purpose));
        }

        await (await _admin.SetConsentAsync(store, "u", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_minor");
        // Archived as for any minor (the visitor's own receipts went to an archive of their own when it became one).
        var grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();
        var archived = new List<List<string>>();
        foreach (var key in await fixture.Database.ArchiveKeysAsync(store))
        {
            archived.Add((await grains.GetGrain<IReceiptArchiveGrain>(key).GetReceipts()).Select(r => r.ReceiptId).ToList());
        }

        Assert.Contains(accountReceipts, archived);

        // The visitor keeps its own status.
        Assert.Equal("minor", (await GetSubjectAsync(store, "anon:x"))["status"]!.GetValue<string>());
        Assert.Equal((false, "minor"), await _admin.DecideAsync(store, "anon:x", "cart"));
        await (await _admin.SetConsentAsync(store, "anon:x", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_minor");
    }

    [Fact]
    public async Task Linking_a_cancelled_visitor_is_409_and_changes_neither_side()
    {
        var store = Unique("linkcancelv");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "recommendation", true)).ShouldBeOkAsync();
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/anon:x/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);
        var accountBefore = await GetSubjectAsync(store, "u");
        var visitorBefore = await GetSubjectAsync(store, "anon:x");

        await (await LinkAsync(store, "u", """{"anonymousId":"anon:x"}""")).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");

        Assert.True(JsonNode.DeepEquals(accountBefore, await GetSubjectAsync(store, "u")));
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u", "analytics"));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u", "recommendation"));
        Assert.True(JsonNode.DeepEquals(visitorBefore, await GetSubjectAsync(store, "anon:x")));
        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "anon:x", "cart"));
        await (await _admin.SetConsentAsync(store, "anon:x", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
    }

    [Theory]
    [InlineData("""{"anonymousId":"x"}""", "invalid_anonymous_id")]
    [InlineData("""{"anonymousId":"visitor:x"}""", "invalid_anonymous_id")]
    [InlineData("""{"anonymousId":"anon:bad id"}""", "invalid_anonymous_id")]
    [InlineData("""{"anonymousId":"anon:x/y"}""", "invalid_anonymous_id")]
    [InlineData("""{"anonymousId":"anon:é"}""", "invalid_anonymous_id")]
    [InlineData("""{"anonymousId":""}""", "invalid_anonymous_id")]
    [InlineData("{}", "invalid_anonymous_id")]
    [InlineData("""{"anonymousId":42}""", "invalid_json")]
    public async Task Linking_needs_a_valid_anon_id(string body, string code)
    {
        var store = Unique("linkbad");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u", "analytics", true)).ShouldBeOkAsync();

        await (await LinkAsync(store, "u", body)).ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);

        Assert.Single((await GetSubjectAsync(store, "u"))["receipts"]!.AsArray());
    }

    [Fact]
    public async Task An_anonymous_subject_cannot_be_the_account_linked_to()
    {
        var store = Unique("linkanon");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:x", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:y", "recommendation", true)).ShouldBeOkAsync();

        await (await LinkAsync(store, "anon:y", """{"anonymousId":"anon:x"}""")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "not_an_account");

        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "anon:x", "analytics"));
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "anon:y", "analytics"));
    }

    // ---------------------------------------------------------------- explanation (§4(4))

    [Theory]
    [InlineData("none", "analytics", false, false, "no_consent", 12)]
    [InlineData("granted", "analytics", false, false, "granted", 10)]
    [InlineData("granted", "analytics", true, false, "do_not_track", 8)]
    [InlineData("granted", "analytics", false, true, "global_privacy_control", 8)]
    [InlineData("withdrawn", "analytics", true, false, "withdrawn", 11)]
    [InlineData("granted", "advertising", false, false, "purpose_disabled", 7)]
    [InlineData("granted", "cart", false, false, "contract", 6)]
    [InlineData("granted", "necessary", false, false, "necessary", 1)]
    public async Task Explain_traces_every_rule_tried_up_to_the_one_that_decided(
        string history, string purpose, bool dnt, bool gpc, string reason, int decidingRule)
    {
        var store = Unique("explain");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        if (history != "none")
        {
            await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        }

        if (history == "withdrawn")
        {
            await (await _admin.SetConsentAsync(store, "u1", "analytics", false)).ShouldBeOkAsync();
        }

        var body = await ExplainAsync(store, "u1", $"purpose={purpose}&explain=true", dnt, gpc);

        Assert.Equal(1, body["policyVersion"]!.GetValue<int>());
        var decision = Assert.Single(body["decisions"]!.AsArray())!;
        Assert.Equal(purpose, decision["purpose"]!.GetValue<string>());
        Assert.Equal(reason, decision["reason"]!.GetValue<string>());
        Assert.Equal(await _admin.DecideAsync(store, "u1", purpose, dnt, gpc), (decision["allowed"]!.GetValue<bool>(), reason));
        AssertTrace(decision["trace"]!.AsArray(), decidingRule);
    }

    [Fact]
    public async Task Explain_traces_each_purpose_of_a_check_and_the_lifecycle_rules()
    {
        var store = Unique("explain2");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await _admin.PostAsync($"/v1/stores/{store}/subjects/u2/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await PutAgeAsync(store, "u3", """{"minor":true}""")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        var both = (await ExplainAsync(store, "u1", "purpose=analytics&purpose=necessary&purpose=recommendation&explain=true"))["decisions"]!.AsArray();
        Assert.Equal(["analytics", "necessary", "recommendation"], both.Select(d => d!["purpose"]!.GetValue<string>()));
        AssertTrace(both[0]!["trace"]!.AsArray(), 10);
        AssertTrace(both[1]!["trace"]!.AsArray(), 1);
        AssertTrace(both[2]!["trace"]!.AsArray(), 12);

        var cancelled = Assert.Single((await ExplainAsync(store, "u2", "purpose=cart&explain=true"))["decisions"]!.AsArray())!;
        Assert.Equal("account_cancelled", cancelled["reason"]!.GetValue<string>());
        AssertTrace(cancelled["trace"]!.AsArray(), 4);
        var minor = Assert.Single((await ExplainAsync(store, "u3", "purpose=analytics&explain=true"))["decisions"]!.AsArray())!;
        Assert.Equal("minor", minor["reason"]!.GetValue<string>());
        AssertTrace(minor["trace"]!.AsArray(), 5);
        var unknown = Assert.Single((await ExplainAsync(Unique("nostore"), "u1", "purpose=analytics&explain=true"))["decisions"]!.AsArray())!;
        Assert.Equal("store_unknown", unknown["reason"]!.GetValue<string>());
        AssertTrace(unknown["trace"]!.AsArray(), 2);
    }

    [Theory]
    [InlineData("purpose=analytics")]
    [InlineData("purpose=analytics&explain=false")]
    public async Task Without_explain_there_is_no_trace_property(string query)
    {
        var store = Unique("notrace");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

        var decision = Assert.Single((await ExplainAsync(store, "u1", query))["decisions"]!.AsArray())!.AsObject();

        Assert.Equal("granted", decision["reason"]!.GetValue<string>());
        Assert.False(decision.ContainsKey("trace"), decision.ToJsonString());
    }

    [Theory]
    [InlineData("explain=maybe")]
    [InlineData("explain=TRUE")]
    [InlineData("explain=")]
    [InlineData("explain=true&explain=true")]
    public async Task Explain_must_be_true_or_false(string explain)
    {
        var store = Unique("explainbad");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();

        var response = await _admin.GetAsync($"/v1/stores/{store}/subjects/u1/decisions?purpose=analytics&{explain}");

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_explain");
    }

    // ---------------------------------------------------------------- receipts' hash chain

    [Fact]
    public async Task Receipts_form_a_hash_chain_a_third_party_can_verify_from_the_export_alone()
    {
        var store = Unique("chain");
        await (await _admin.PublishPolicyAsync(store, 2)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, policyVersion: 2, source: "banner", dnt: true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true, policyVersion: 1, source: "api", gpc: true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", false, policyVersion: 2, source: "account_settings")).ShouldBeOkAsync();

        var record = await GetSubjectAsync(store, "u1");

        var receipts = record["receipts"]!.AsArray();
        Assert.Equal(3, receipts.Count);
        var chain = record["receiptChain"]!;
        Assert.Equal(new string('0', 64), chain["genesis"]!.GetValue<string>());
        Assert.Contains("sha256", chain["algorithm"]!.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(chain["genesis"]!.GetValue<string>(), receipts[0]!["previousHash"]!.GetValue<string>());
        for (var i = 1; i < receipts.Count; i++)
        {
            Assert.Equal(receipts[i - 1]!["hash"]!.GetValue<string>(), receipts[i]!["previousHash"]!.GetValue<string>());
        }

        Assert.Equal(3, receipts.Select(r => r!["hash"]!.GetValue<string>()).Distinct().Count());
        AssertChainVerifies(record);
    }

    [Fact]
    public async Task A_multi_purpose_write_chains_one_receipt_per_purpose()
    {
        var store = Unique("chainmulti");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        var response = await _admin.PutAsync($"/v1/stores/{store}/subjects/u1/consents",
            ConsentApi.Json("""{"purposes":{"recommendation":true,"analytics":false},"policyVersion":1,"source":"import"}"""));
        await response.ShouldBeOkAsync();

        var record = await response.ReadJsonAsync();
        Assert.Equal(2, record["receipts"]!.AsArray().Count);
        AssertChainVerifies(record);
        AssertChainVerifies(await GetSubjectAsync(store, "u1"));
    }

    // ---------------------------------------------------------------- data-subject requests (§4(5))

    [Fact]
    public async Task A_registered_request_is_open_and_due_15_working_days_later()
    {
        var store = Unique("req");

        var response = await RegisterRequestAsync(store, """{"subjectId":"u1","type":"access","receivedAt":"2026-11-27T09:00:00Z"}""");

        await response.ShouldBeOkAsync(HttpStatusCode.Created);
        var created = await response.ReadJsonAsync();
        var id = created["id"]!.GetValue<string>();
        Assert.False(string.IsNullOrWhiteSpace(id));
        Assert.Equal("access", created["type"]!.GetValue<string>());
        Assert.Equal("open", created["status"]!.GetValue<string>());
        Assert.Equal("u1", created["subjectId"]!.GetValue<string>());
        Assert.Equal("2026-11-27T09:00:00Z", created["receivedAt"]!.GetValue<string>());
        // Friday 27 November (Asia/Shanghai) + 15 working days = Friday 18 December, 23:59:59 +08:00.
        Assert.Equal("2026-12-18T15:59:59Z", created["dueAt"]!.GetValue<string>());
        Assert.False(created["overdue"]!.GetValue<bool>());
        Assert.Null(created["completedAt"]);
        Assert.NotNull(response.Headers.Location);
        Assert.EndsWith($"/v1/stores/{store}/requests/{id}", response.Headers.Location!.ToString(), StringComparison.Ordinal);

        var listed = await ListRequestsAsync(store, "open");
        Assert.Equal(id, Assert.Single(listed)!["id"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(created, listed[0]));
    }

    [Theory]
    // The day of receipt is the calendar's (Asia/Shanghai) local date; it does not count.
    [InlineData("2026-11-26T15:59:59Z", "2026-11-26T15:59:59Z", "2026-12-17T15:59:59Z")]
    [InlineData("2026-11-26T16:00:00Z", "2026-11-26T16:00:00Z", "2026-12-18T15:59:59Z")]
    [InlineData("2026-11-27T09:00:00+08:00", "2026-11-27T01:00:00Z", "2026-12-18T15:59:59Z")]
    // National Day (1-7 October) does not count; Saturday 10 October, a make-up working day, does.
    [InlineData("2026-09-30T02:00:00Z", "2026-09-30T02:00:00Z", "2026-10-27T15:59:59Z")]
    // Received on a Saturday: Sunday 20 September, a make-up working day, is the first one counted;
    // Mid-Autumn (25 September) and National Day are not.
    [InlineData("2026-09-19T02:00:00Z", "2026-09-19T02:00:00Z", "2026-10-15T15:59:59Z")]
    public async Task The_due_date_counts_working_days_of_the_configured_calendar(string receivedAt, string receivedUtc, string dueAt)
    {
        var store = Unique("reqdue");

        var created = await RegisterAsync(store, "u1", "access", receivedAt);

        Assert.Equal(receivedUtc, created["receivedAt"]!.GetValue<string>());
        Assert.Equal(dueAt, created["dueAt"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("access")]
    [InlineData("correction")]
    [InlineData("deletion")]
    [InlineData("cancellation")]
    [InlineData("withdrawal")]
    [InlineData("explanation")]
    public async Task Every_request_type_is_accepted(string type)
    {
        var store = Unique("reqtype");

        var response = await RegisterRequestAsync(store, $$"""{"subjectId":"u1","type":"{{type}}","receivedAt":"2026-11-27T09:00:00Z"}""");

        await response.ShouldBeOkAsync(HttpStatusCode.Created);
        Assert.Equal(type, (await response.ReadJsonAsync())["type"]!.GetValue<string>());
        Assert.Equal(type, Assert.Single(await ListRequestsAsync(store, null))!["type"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"subjectId":"u1","type":"erasure","receivedAt":"2026-11-27T09:00:00Z"}""", "invalid_type")]
    [InlineData("""{"subjectId":"u1","type":"Access","receivedAt":"2026-11-27T09:00:00Z"}""", "invalid_type")]
    [InlineData("""{"subjectId":"u1","receivedAt":"2026-11-27T09:00:00Z"}""", "invalid_type")]
    [InlineData("""{"subjectId":"bad id","type":"access","receivedAt":"2026-11-27T09:00:00Z"}""", "invalid_id")]
    [InlineData("""{"subjectId":"","type":"access","receivedAt":"2026-11-27T09:00:00Z"}""", "invalid_id")]
    [InlineData("""{"type":"access","receivedAt":"2026-11-27T09:00:00Z"}""", "invalid_id")]
    [InlineData("""{"subjectId":"u1","type":"access","receivedAt":"yesterday"}""", "invalid_received_at")]
    [InlineData("""{"subjectId":"u1","type":"access","receivedAt":"2099-01-01T00:00:00Z"}""", "received_in_future")]
    public async Task A_bad_request_registration_is_400_and_registers_nothing(string body, string code)
    {
        var store = Unique("reqbad");

        await (await RegisterRequestAsync(store, body)).ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);

        Assert.Empty(await ListRequestsAsync(store, null));
    }

    [Theory]
    // RFC 3339 times carry an offset; without one the instant would depend on the host's time zone.
    [InlineData("2026-11-27T09:00:00")]
    [InlineData("2026-11-27")]
    public async Task A_receipt_time_without_an_offset_is_400(string receivedAt)
    {
        var store = Unique("reqnooffset");

        var response = await RegisterRequestAsync(store, $$"""{"subjectId":"u1","type":"access","receivedAt":"{{receivedAt}}"}""");

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Empty(await ListRequestsAsync(store, null));
    }

    [Fact]
    public async Task The_Location_of_a_registered_request_names_a_resource_that_exists()
    {
        var store = Unique("reqloc");
        var response = await RegisterRequestAsync(store, """{"subjectId":"u1","type":"access","receivedAt":"2026-11-27T09:00:00Z"}""");
        await response.ShouldBeOkAsync(HttpStatusCode.Created);
        var created = await response.ReadJsonAsync();

        var located = await _admin.GetAsync(response.Headers.Location);

        await located.ShouldBeOkAsync();
        Assert.Equal(Id(created), Id(await located.ReadJsonAsync()));
    }

    [Fact]
    public async Task A_receipt_time_an_hour_ahead_is_400()
    {
        var store = Unique("reqfuture");
        var ahead = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

        await (await RegisterRequestAsync(store, $$"""{"subjectId":"u1","type":"access","receivedAt":"{{ahead}}"}"""))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "received_in_future");
    }

    [Fact]
    public async Task Requests_are_listed_by_status_open_overdue_and_completed()
    {
        var store = Unique("reqlist");
        var fresh = await RegisterAsync(store, "u1", "access", "2026-11-27T09:00:00Z");
        var old = await RegisterAsync(store, "u2", "deletion", "2026-01-05T09:00:00Z");
        Assert.Equal("2026-01-26T15:59:59Z", old["dueAt"]!.GetValue<string>());
        Assert.True(old["overdue"]!.GetValue<bool>());

        Assert.Equal(new[] { Id(fresh), Id(old) }.Order(), (await ListRequestsAsync(store, "open")).Select(Id).Order());
        var overdue = await ListRequestsAsync(store, "overdue");
        Assert.Equal(Id(old), Id(Assert.Single(overdue)));
        Assert.Empty(await ListRequestsAsync(store, "completed"));
        Assert.Equal(2, (await ListRequestsAsync(store, null)).Count);

        // A deletion request is completed only for a verified requester (and erases the subject).
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(old)}/verify", ConsentApi.Json("""{"method":"sms_code"}"""))).ShouldBeOkAsync();
        var completing = await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(old)}/complete", null);
        await completing.ShouldBeOkAsync();
        var completed = await completing.ReadJsonAsync();
        Assert.Equal(Id(old), Id(completed));
        Assert.Equal("completed", completed["status"]!.GetValue<string>());
        Assert.False(completed["overdue"]!.GetValue<bool>());
        var completedAt = DateTimeOffset.Parse(completed["completedAt"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        Assert.InRange(completedAt, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));

        Assert.Equal(Id(old), Id(Assert.Single(await ListRequestsAsync(store, "completed"))));
        Assert.Equal(Id(fresh), Id(Assert.Single(await ListRequestsAsync(store, "open"))));
        Assert.Empty(await ListRequestsAsync(store, "overdue"));

        // Completing twice is harmless and keeps the first completion time.
        var twice = await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(old)}/complete", null);
        await twice.ShouldBeOkAsync();
        Assert.Equal(completed["completedAt"]!.GetValue<string>(), (await twice.ReadJsonAsync())["completedAt"]!.GetValue<string>());
    }

    [Fact]
    public async Task Completing_an_unknown_request_is_404_and_an_unknown_status_filter_is_400()
    {
        var store = Unique("req404");
        await RegisterAsync(store, "u1", "access", "2026-11-27T09:00:00Z");

        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{Guid.NewGuid():N}/complete", null))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound, "request_not_found");
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{new string('a', 65)}/complete", null))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound, "request_not_found");
        await (await _admin.GetAsync($"/v1/stores/{store}/requests?status=bogus")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_status");
        await (await _admin.GetAsync($"/v1/stores/{store}/requests?status=OPEN")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_status");

        Assert.Single(await ListRequestsAsync(store, "open"));
    }

    [Fact]
    public async Task A_storefront_token_may_not_touch_requests()
    {
        var storefront = fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        var seller = fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var existing = await seller.PostAsync("/v1/stores/s1/requests",
            ConsentApi.Json("""{"subjectId":"u1","type":"access","receivedAt":"2026-11-27T09:00:00Z"}"""));
        await existing.ShouldBeOkAsync(HttpStatusCode.Created);
        var id = Id(await existing.ReadJsonAsync());

        await (await storefront.PostAsync("/v1/stores/s1/requests",
            ConsentApi.Json("""{"subjectId":"u2","type":"access","receivedAt":"2026-11-27T09:00:00Z"}""")))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await storefront.GetAsync("/v1/stores/s1/requests?status=open")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await storefront.GetAsync("/v1/stores/s1/requests")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await storefront.PostAsync($"/v1/stores/s1/requests/{id}/complete", null)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        var open = await (await seller.GetAsync("/v1/stores/s1/requests?status=open")).ReadJsonAsync();
        var mine = open["requests"]!.AsArray().Where(r => Id(r!) == id).ToList();
        Assert.Equal("open", Assert.Single(mine)!["status"]!.GetValue<string>());
        Assert.DoesNotContain(open["requests"]!.AsArray(), r => r!["subjectId"]!.GetValue<string>() == "u2");
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>The store's one receipt archive (each erasure has its own, under a token nobody can recompute).</summary>
    private async Task<IReceiptArchiveGrain> SingleArchive(string store) =>
        fixture.Factory.Services.GetRequiredService<IGrainFactory>()
            .GetGrain<IReceiptArchiveGrain>(Assert.Single(await fixture.Database.ArchiveKeysAsync(store)));

    /// <summary>The record's receipts are of these events, in order, and their chain verifies.</summary>
    internal static void AssertEvents(JsonNode record, params string[] events)
    {
        Assert.Equal(events, record["receipts"]!.AsArray().Select(r => r!["event"]!.GetValue<string>()));
        AssertChainVerifies(record);
    }

    private async Task<JsonNode> GetSubjectAsync(string store, string subject)
    {
        var response = await _admin.GetAsync($"/v1/stores/{store}/subjects/{subject}");
        await response.ShouldBeOkAsync();
        return await response.ReadJsonAsync();
    }

    private async Task<HttpResponseMessage> PutAgeAsync(string store, string subject, string body) =>
        await _admin.PutAsync($"/v1/stores/{store}/subjects/{subject}/age", ConsentApi.Json(body));

    private async Task<HttpResponseMessage> LinkAsync(string store, string subject, string body) =>
        await _admin.PostAsync($"/v1/stores/{store}/subjects/{subject}/link", ConsentApi.Json(body));

    private async Task<JsonNode> ExplainAsync(string store, string subject, string query, bool dnt = false, bool gpc = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/stores/{store}/subjects/{subject}/decisions?{query}");
        if (dnt)
        {
            request.Headers.Add("DNT", "1");
        }

        if (gpc)
        {
            request.Headers.Add("Sec-GPC", "1");
        }

        var response = await _admin.SendAsync(request);
        await response.ShouldBeOkAsync();
        return await response.ReadJsonAsync();
    }

    private async Task<HttpResponseMessage> RegisterRequestAsync(string store, string body) =>
        await _admin.PostAsync($"/v1/stores/{store}/requests", ConsentApi.Json(body));

    private async Task<JsonNode> RegisterAsync(string store, string subject, string type, string receivedAt)
    {
        var response = await RegisterRequestAsync(store, $$"""{"subjectId":"{{subject}}","type":"{{type}}","receivedAt":"{{receivedAt}}"}""");
        await response.ShouldBeOkAsync(HttpStatusCode.Created);
        return await response.ReadJsonAsync();
    }

    private async Task<JsonArray> ListRequestsAsync(string store, string? status)
    {
        var response = await _admin.GetAsync($"/v1/stores/{store}/requests" + (status is null ? "" : $"?status={status}"));
        await response.ShouldBeOkAsync();
        return (await response.ReadJsonAsync())["requests"]!.AsArray();
    }

    private static string Id(JsonNode? request) => request!["id"]!.GetValue<string>();

    private static List<string> ReceiptIds(JsonNode record) =>
        record["receipts"]!.AsArray().Select(r => r!["receiptId"]!.GetValue<string>()).ToList();

    /// <summary>A trace is every rule from 1 up to the deciding one, in order, and only the last applied.</summary>
    private static void AssertTrace(JsonArray trace, int decidingRule)
    {
        Assert.Equal(Enumerable.Range(1, decidingRule), trace.Select(step => step!["rule"]!.GetValue<int>()));
        Assert.All(trace, step => Assert.False(string.IsNullOrWhiteSpace(step!["description"]!.GetValue<string>())));
        Assert.All(trace.Take(trace.Count - 1), step => Assert.False(step!["applied"]!.GetValue<bool>(), step.ToJsonString()));
        Assert.True(trace[^1]!["applied"]!.GetValue<bool>());
    }

    /// <summary>Recomputes every hash from the documented canonical form, as an outside verifier would.</summary>
    internal static void AssertChainVerifies(JsonNode record)
    {
        var chain = record["receiptChain"]!;
        Assert.True(chain["valid"]!.GetValue<bool>(), chain.ToJsonString());
        Assert.Null(chain["firstBrokenIndex"]);
        var previous = chain["genesis"]!.GetValue<string>();
        Assert.Equal(new string('0', 64), previous);
        foreach (var receipt in record["receipts"]!.AsArray())
        {
            Assert.Equal(previous, receipt!["previousHash"]!.GetValue<string>());
            var at = DateTimeOffset.Parse(receipt["at"]!.GetValue<string>(), CultureInfo.InvariantCulture)
                .ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
            var linked = (receipt["linkedFrom"]?.GetValue<string>(), receipt["linkedFromNonce"]?.GetValue<string>()) switch
            {
                (null, _) => "",
                ({ } linkedFrom, null) => linkedFrom,
                ({ } linkedFrom, { } nonce) => Sha256(nonce + "|" + linkedFrom),
            };
            var eventId = receipt["event"]!.GetValue<string>();
            var canonical = eventId == "consent"
                ? string.Join('|',
                    previous,
                    receipt["receiptId"]!.GetValue<string>(),
                    receipt["purpose"]!.GetValue<string>(),
                    receipt["granted"]!.GetValue<bool>() ? "1" : "0",
                    receipt["policyVersion"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture),
                    receipt["source"]!.GetValue<string>(),
                    receipt["dnt"]!.GetValue<bool>() ? "1" : "0",
                    receipt["gpc"]!.GetValue<bool>() ? "1" : "0",
                    at,
                    linked)
                : string.Join('|', previous, receipt["receiptId"]!.GetValue<string>(), eventId, at, linked);
            var expected = Sha256(canonical);
            Assert.Equal(expected, receipt["hash"]!.GetValue<string>());
            previous = expected;
        }
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static bool Contains(byte[] haystack, string ascii) =>
        haystack.AsSpan().IndexOf(Encoding.ASCII.GetBytes(ascii)) >= 0;

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];
}
