using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// §4(5) of the privacy policy over HTTP: due dates only within the configured calendar (or provisional), rejection
/// only on the policy's grounds, identity verification recorded, repeats flagged, deletion and cancellation requests
/// completed by erasing or cancelling the subject, and no raw subject id kept by a closed request.
/// </summary>
public sealed class RequestRulesTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly HttpClient _admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    // ---------------------------------------------------------------- calendars (issue 12, point 5)

    /// <summary>A calendar of 2025 (its only holiday Christmas, for the test): 2026 is not covered.</summary>
    private const string Calendar2025 = """
        {"calendar": "test 2025", "timeZone": "Asia/Shanghai", "utcOffset": "+08:00", "weekend": ["Saturday", "Sunday"],
         "holidays": [{"name": "Christmas (test)", "dates": ["2025-12-25"]}], "makeUpWorkingDays": []}
        """;

    [Fact]
    public async Task A_due_date_past_the_calendar_is_422_calendar_not_covered_and_registers_nothing()
    {
        using var calendars = new CalendarFolder(("test-2025.json", Calendar2025));
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?>
        {
            ["Requests:CalendarFolder"] = calendars.Path,
        });
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);

        // 15 working days after Monday 22 December 2025 run into 2026, which this calendar does not know;
        // a request received today, without receivedAt, lies wholly past it.
        var response = await Register(admin, "s1", """{"subjectId":"u1","type":"access","receivedAt":"2025-12-22T02:00:00Z"}""");
        var now = await Register(admin, "s1", """{"subjectId":"u2","type":"access"}""");
        var within = await Register(admin, "s1", """{"subjectId":"u3","type":"access","receivedAt":"2025-11-03T02:00:00Z"}""");

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "calendar_not_covered");
        await now.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "calendar_not_covered");
        Assert.Contains("Requests:CalendarFolder", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        await within.ShouldBeOkAsync(HttpStatusCode.Created);
        Assert.Single(await List(admin, "s1", null));
    }

    [Fact]
    public async Task The_built_in_calendar_refuses_a_receipt_before_2026()
    {
        // 22 December 2025 + 15 working days: the built-in calendar knows 2026 only.
        var response = await Register(_admin, Unique("cal"), """{"subjectId":"u1","type":"access","receivedAt":"2025-12-22T02:00:00Z"}""");

        await response.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "calendar_not_covered");
    }

    [Fact]
    public async Task With_AllowProvisionalDueDates_a_due_date_past_the_calendar_is_provisional_and_says_so()
    {
        using var calendars = new CalendarFolder(("test-2025.json", Calendar2025));
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?>
        {
            ["Requests:CalendarFolder"] = calendars.Path,
            ["Requests:AllowProvisionalDueDates"] = "true",
        });
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);

        var past = await Created(admin, "s1", """{"subjectId":"u1","type":"access","receivedAt":"2025-12-22T02:00:00Z"}""");
        var within = await Created(admin, "s1", """{"subjectId":"u2","type":"access","receivedAt":"2025-11-03T02:00:00Z"}""");

        // Weekends only past 2025 (1 January 2026 counts): Dec 23, 24, 26 (3), Dec 29 .. Jan 2 (8), Jan 5 .. 9 (13), Jan 12, 13.
        Assert.Equal("2026-01-13T15:59:59Z", past["dueAt"]!.GetValue<string>());
        Assert.True(past["dueAtProvisional"]!.GetValue<bool>());
        // Nov 4 .. 7 (4), Nov 10 .. 14 (9), Nov 17 .. 21 (14), Mon Nov 24.
        Assert.Equal("2025-11-24T15:59:59Z", within["dueAt"]!.GetValue<string>());
        Assert.False(within["dueAtProvisional"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_calendar_folder_with_the_next_year_counts_its_holidays()
    {
        await using var stream = typeof(ShopAstro.Grains.Requests.WorkingDayCalendar).Assembly
            .GetManifestResourceStream(ShopAstro.Grains.Requests.WorkingDayCalendar.MainlandChina2026ResourceName)!;
        using var calendars = new CalendarFolder(("test-2025.json", Calendar2025), ("cn-mainland-2026.json", await new StreamReader(stream).ReadToEndAsync()));
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?>
        {
            ["Requests:CalendarFolder"] = calendars.Path,
        });

        var created = await Created(factory.ClientWith(EdgeApiFactory.AdminToken), "s1",
            """{"subjectId":"u1","type":"access","receivedAt":"2025-12-22T02:00:00Z"}""");

        // Dec 23, 24, 26 (3), Dec 29 .. 31 (6), New Year Jan 1 .. 3 off, Sun Jan 4 worked (7), Jan 5 .. 9 (12), Jan 12 .. 14 (15).
        Assert.Equal("2026-01-14T15:59:59Z", created["dueAt"]!.GetValue<string>());
        Assert.False(created["dueAtProvisional"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("2026-10-01T00:00:00Z", "Healthy")]
    [InlineData("2026-11-02T00:00:00Z", "Degraded")] // 60 days before 31 December
    [InlineData("2027-01-05T00:00:00Z", "Degraded")]
    public async Task Health_reports_degraded_from_60_days_before_the_calendar_ends(string now, string expected)
    {
        await using var database = TestDatabase.Sqlite();
        await using var edge = new EdgeApiFactory(database.ConnectionString);
        await using var factory = edge.WithHealthCheckClock("calendar", DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture));

        var response = await factory.CreateClient().GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    // ---------------------------------------------------------------- rejection grounds (point 6)

    [Theory]
    [InlineData("""{"ground":"too_busy"}""")]
    [InlineData("""{"ground":"Abuse_of_rights"}""")]
    [InlineData("""{"ground":"abuse of rights"}""")]
    [InlineData("""{"ground":4}""")]
    [InlineData("""{"ground":null}""")]
    [InlineData("""{}""")]
    public async Task A_rejection_without_one_of_the_policys_grounds_is_400_and_the_request_stays_open(string body)
    {
        var store = Unique("rejbad");
        var id = Id(await Created(_admin, store, """{"subjectId":"u1","type":"access","receivedAt":"2026-11-27T09:00:00Z"}"""));

        var response = await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/reject", ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal("open", Assert.Single(await List(_admin, store, "open"))!["status"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("legal_obligation")]
    [InlineData("national_security")]
    [InlineData("public_interest")]
    [InlineData("criminal_investigation")]
    [InlineData("abuse_of_rights")]
    [InlineData("vital_interests")]
    [InlineData("harm_to_others")]
    [InlineData("trade_secrets")]
    public async Task A_request_rejected_on_a_ground_of_the_policy_is_closed_with_it(string ground)
    {
        var store = Unique("rej");
        var id = Id(await Created(_admin, store, """{"subjectId":"u1","type":"deletion","receivedAt":"2026-11-27T09:00:00Z"}"""));

        var response = await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/reject", ConsentApi.Json($$"""{"ground":"{{ground}}"}"""));

        await response.ShouldBeOkAsync();
        var rejected = await response.ReadJsonAsync();
        Assert.Equal("rejected", rejected["status"]!.GetValue<string>());
        Assert.Equal(ground, rejected["rejectionGround"]!.GetValue<string>());
        Assert.NotNull(rejected["rejectedAt"]);
        Assert.Null(rejected["completedAt"]);
        Assert.Equal(id, Id(Assert.Single(await List(_admin, store, "rejected"))));
        Assert.Empty(await List(_admin, store, "open"));

        // The same rejection again is harmless; another ground, or completing it, conflicts.
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/reject", ConsentApi.Json($$"""{"ground":"{{ground}}"}"""))).ShouldBeOkAsync();
        var other = ground == "trade_secrets" ? "legal_obligation" : "trade_secrets";
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/reject", ConsentApi.Json($$"""{"ground":"{{other}}"}""")))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "request_closed");
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/complete", null)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "request_closed");
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{Guid.NewGuid():N}/reject", ConsentApi.Json("""{"ground":"trade_secrets"}""")))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound, "request_not_found");
    }

    // ---------------------------------------------------------------- identity verification (point 6)

    [Fact]
    public async Task Identity_verification_is_recorded_with_its_method_and_time()
    {
        var store = Unique("ver");
        var atRegistration = await Created(_admin, store,
            """{"subjectId":"u1","type":"access","receivedAt":"2026-11-27T09:00:00Z","identityVerification":{"method":"email_code","verifiedAt":"2026-11-27T09:30:00+08:00"}}""");
        var later = await Created(_admin, store, """{"subjectId":"u2","type":"correction","receivedAt":"2026-11-27T09:00:00Z"}""");
        Assert.Null(later["identityVerification"]);

        var verifying = await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(later)}/verify",
            ConsentApi.Json("""{"method":"id_document","verifiedAt":"2026-11-30T02:00:00Z"}"""));

        await verifying.ShouldBeOkAsync();
        Assert.Equal("email_code", atRegistration["identityVerification"]!["method"]!.GetValue<string>());
        Assert.Equal("2026-11-27T01:30:00Z", atRegistration["identityVerification"]!["verifiedAt"]!.GetValue<string>());
        var stored = await (await _admin.GetAsync($"/v1/stores/{store}/requests/{Id(later)}")).ReadJsonAsync();
        Assert.Equal("id_document", stored["identityVerification"]!["method"]!.GetValue<string>());
        Assert.Equal("2026-11-30T02:00:00Z", stored["identityVerification"]!["verifiedAt"]!.GetValue<string>());

        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(later)}/verify", ConsentApi.Json("""{"method":"telepathy"}""")))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_verification_method");
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(later)}/verify", ConsentApi.Json("""{"method":"sms_code","verifiedAt":"2099-01-01T00:00:00Z"}""")))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "verified_at_in_future");
        await (await Register(_admin, store, """{"subjectId":"u3","type":"access","receivedAt":"2026-11-27T09:00:00Z","identityVerification":{"method":"guess"}}"""))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_verification_method");
    }

    // ---------------------------------------------------------------- repeats (point 6)

    [Fact]
    public async Task A_repeat_request_of_the_same_type_for_the_same_subject_within_the_window_is_flagged()
    {
        var store = Unique("rep");
        var old = await Created(_admin, store, Body("u1", "access", DaysAgo(45)));
        var first = await Created(_admin, store, Body("u1", "access", DaysAgo(20)));
        Assert.False(first["repeat"]!.GetValue<bool>()); // 25 days after the old one, but the default window is 30 days
        Assert.Null(first["repeatOf"]);
        // Completing the first drops its subject id; the repeat is still recognised.
        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{Id(first)}/complete", null)).ShouldBeOkAsync();

        var repeat = await Created(_admin, store, Body("u1", "access", DaysAgo(10)));
        var otherType = await Created(_admin, store, Body("u1", "correction", DaysAgo(10)));
        var otherSubject = await Created(_admin, store, Body("u2", "access", DaysAgo(10)));

        Assert.True(repeat["repeat"]!.GetValue<bool>());
        Assert.Equal(Id(first), repeat["repeatOf"]!.GetValue<string>());
        Assert.False(otherType["repeat"]!.GetValue<bool>());
        Assert.False(otherSubject["repeat"]!.GetValue<bool>());
        Assert.False(old["repeat"]!.GetValue<bool>());
    }

    [Fact]
    public async Task The_repeat_window_is_configurable()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?>
        {
            ["Requests:RepeatWindow"] = "60.00:00:00",
        });
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);

        var first = await Created(admin, "s1", Body("u1", "deletion", DaysAgo(50)));
        var repeat = await Created(admin, "s1", Body("u1", "deletion", DaysAgo(5)));

        Assert.Equal(Id(first), repeat["repeatOf"]!.GetValue<string>());
    }

    // ---------------------------------------------------------------- completing deletion and cancellation (point 6)

    [Fact]
    public async Task Completing_a_deletion_request_needs_a_verified_requester_and_erases_the_subject()
    {
        var store = Unique("reqdel");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        var id = Id(await Created(_admin, store, """{"subjectId":"u1","type":"deletion","receivedAt":"2026-11-27T09:00:00Z"}"""));

        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/complete", null))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "identity_not_verified");
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
        Assert.Equal("open", (await Get(store, id))["status"]!.GetValue<string>());

        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/verify", ConsentApi.Json("""{"method":"sms_code"}"""))).ShouldBeOkAsync();
        var completing = await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/complete", null);

        await completing.ShouldBeOkAsync();
        Assert.Equal("completed", (await completing.ReadJsonAsync())["status"]!.GetValue<string>());
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "analytics"));
        var record = await (await _admin.GetAsync($"/v1/stores/{store}/subjects/u1")).ReadJsonAsync();
        Assert.Equal("erased", record["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Completing_a_cancellation_request_cancels_the_account()
    {
        var store = Unique("reqcan");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        var id = Id(await Created(_admin, store,
            """{"subjectId":"u1","type":"cancellation","receivedAt":"2026-11-27T09:00:00Z","identityVerification":{"method":"account_login"}}"""));

        await (await _admin.PostAsync($"/v1/stores/{store}/requests/{id}/complete", null)).ShouldBeOkAsync();

        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "analytics"));
        Assert.Equal((false, "account_cancelled"), await _admin.DecideAsync(store, "u1", "cart"));
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
    }

    // ---------------------------------------------------------------- no raw id once closed (point 3)

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_completed_or_rejected_request_keeps_no_raw_subject_id_in_the_store(string storage)
    {
        await using var database = storage == "postgres" ? await TestDatabase.PostgresAsync() : TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        const string store = "s1";
        var completedSubject = "subj-completed-" + Guid.NewGuid().ToString("N")[..10];
        var rejectedSubject = "subj-rejected-" + Guid.NewGuid().ToString("N")[..10];
        var openSubject = "subj-open-" + Guid.NewGuid().ToString("N")[..10];
        var completed = Id(await Created(admin, store, $$"""{"subjectId":"{{completedSubject}}","type":"access","receivedAt":"2026-11-27T09:00:00Z"}"""));
        var rejected = Id(await Created(admin, store, $$$"""{"subjectId":"{{{rejectedSubject}}}","type":"deletion","receivedAt":"2026-11-27T09:00:00Z","identityVerification":{"method":"sms_code"}}"""));
        await Created(admin, store, $$"""{"subjectId":"{{openSubject}}","type":"access","receivedAt":"2026-11-27T09:00:00Z"}""");
        Assert.True(Contains(await RequestsPayload(database, store), completedSubject), "The raw id of an open request should be stored (a control).");

        var done = await (await admin.PostAsync($"/v1/stores/{store}/requests/{completed}/complete", null)).ReadJsonAsync();
        var refused = await (await admin.PostAsync($"/v1/stores/{store}/requests/{rejected}/reject", ConsentApi.Json("""{"ground":"abuse_of_rights"}"""))).ReadJsonAsync();

        var payload = await RequestsPayload(database, store);
        Assert.False(Contains(payload, completedSubject), "The completed request still holds the raw subject id.");
        Assert.False(Contains(payload, rejectedSubject), "The rejected request still holds the raw subject id.");
        Assert.True(Contains(payload, openSubject));
        Assert.Null(done["subjectId"]);
        Assert.Null(refused["subjectId"]);
        // What an audit needs stays.
        Assert.Equal("abuse_of_rights", refused["rejectionGround"]!.GetValue<string>());
        Assert.Equal("sms_code", refused["identityVerification"]!["method"]!.GetValue<string>());
        Assert.Equal("deletion", refused["type"]!.GetValue<string>());
        Assert.Equal("2026-11-27T09:00:00Z", done["receivedAt"]!.GetValue<string>());
    }

    // ---------------------------------------------------------------- helpers

    private static async Task<byte[]> RequestsPayload(TestDatabase database, string store) =>
        Assert.IsType<byte[]>(await database.ExecuteAsync(
            $"SELECT PayloadBinary FROM ConsentGrainState WHERE GrainIdExtensionString = '{store}' AND GrainTypeString LIKE '%request%'"));

    private static bool Contains(byte[] payload, string text) => payload.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    private static Task<HttpResponseMessage> Register(HttpClient client, string store, string body) =>
        client.PostAsync($"/v1/stores/{store}/requests", ConsentApi.Json(body));

    private static async Task<JsonNode> Created(HttpClient client, string store, string body)
    {
        var response = await Register(client, store, body);
        await response.ShouldBeOkAsync(HttpStatusCode.Created);
        return await response.ReadJsonAsync();
    }

    private async Task<JsonNode> Get(string store, string id) =>
        await (await _admin.GetAsync($"/v1/stores/{store}/requests/{id}")).ReadJsonAsync();

    private static async Task<JsonArray> List(HttpClient client, string store, string? status)
    {
        var response = await client.GetAsync($"/v1/stores/{store}/requests" + (status is null ? "" : $"?status={status}"));
        await response.ShouldBeOkAsync();
        return (await response.ReadJsonAsync())["requests"]!.AsArray();
    }

    /// <summary>Repeat keys are kept for the window counted from now, so repeats are tested on recent receipts.</summary>
    /// <summary>A temporary folder of calendar files, deleted when disposed.</summary>
    private sealed class CalendarFolder : IDisposable
    {
        public CalendarFolder(params (string Name, string Json)[] files)
        {
            Path = Directory.CreateTempSubdirectory("calendars-").FullName;
            foreach (var (name, json) in files)
            {
                File.WriteAllText(System.IO.Path.Combine(Path, name), json);
            }
        }

        public string Path { get; }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    private static DateTimeOffset DaysAgo(int days) => DateTimeOffset.UtcNow.AddDays(-days);

    private static string Body(string subject, string type, DateTimeOffset receivedAt) =>
        $$"""{"subjectId":"{{subject}}","type":"{{type}}","receivedAt":"{{receivedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}}"}""";

    private static string Id(JsonNode? request) => request!["id"]!.GetValue<string>();

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];
}
