package admin

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The service's field errors are English (the API's language). The Thai
// console shows them in Thai: each known message, by its format, has a
// Thai one with the same arguments in order; any other message gets the
// generic Thai "field_invalid" — never English text.
var thaiFieldFormats = [][2]string{
	{"is required", "ต้องกรอก"},
	{"is required for a private juristic person", "ต้องกรอกสำหรับนิติบุคคลเอกชน"},
	{"is not valid UTF-8", "มีอักขระที่ไม่ถูกต้อง"},
	{"contains a NUL character", "มีอักขระที่ไม่ถูกต้อง"},
	{"is longer than %d characters", "ยาวเกิน %s ตัวอักษร"},
	{"is not an email address", "ไม่ใช่ที่อยู่อีเมล"},
	{"has more than %d entries", "มีเกิน %s รายการ"},
	{"is listed twice", "ระบุซ้ำ"},
	{"%s is listed twice", "%s ระบุซ้ำ"},
	{"is not a date", "ไม่ใช่วันที่"},
	{"is not a date and time", "ไม่ใช่วันที่และเวลา"},
	{"is in the future", "เป็นเวลาในอนาคต"},
	{"is in the past; leave it empty for now", "เป็นเวลาที่ผ่านมาแล้ว เว้นว่างไว้หากให้มีผลทันที"},
	{"is taken", "มีผู้ใช้แล้ว"},
	{"must be in the future", "ต้องเป็นเวลาในอนาคต"},
	{"must be after valid_from", "ต้องหลังวันที่เริ่มมีผล"},
	{"must be after the decision takes effect", "ต้องหลังวันที่คำวินิจฉัยมีผล"},
	{"must be after the permit's current end: a renewal extends it", "ต้องหลังวันสิ้นสุดปัจจุบันของหนังสืออนุญาต เพราะการต่ออายุคือการขยายระยะเวลา"},
	{"must be at least %d characters", "ต้องมีอย่างน้อย %s ตัวอักษร"},
	{"must be at most %d characters", "ต้องไม่เกิน %s ตัวอักษร"},
	{"must be at most %d days", "ต้องไม่เกิน %s วัน"},
	{"must be at least an hour", "ต้องอย่างน้อยหนึ่งชั่วโมง"},
	{"must be one of %s", "ต้องเป็นค่าใดค่าหนึ่งต่อไปนี้: %s"},
	{"must be one of %s (clause 3)", "ต้องเป็นประเภทใดประเภทหนึ่งต่อไปนี้ (ข้อ 3): %s"},
	{"must be %s, %s or %s", "ต้องเป็น %s, %s หรือ %s"},
	{"must be ES256 or RS256", "ต้องเป็น ES256 หรือ RS256"},
	{"key %d has use %q, want sig or enc", "กุญแจลำดับที่ %s ระบุ use เป็น %s ต้องเป็น sig หรือ enc"},
	{"needs a back-channel logout URI", "ต้องระบุ URL รับ logout token (back-channel logout)"},
	{"must be the 13-digit juristic person registration number", "ต้องเป็นเลขทะเบียนนิติบุคคล 13 หลัก"},
	{"must be 2 to 41 characters: lower-case letters, digits, _ and -, starting with a letter or digit", "ต้องยาว 2 ถึง 41 ตัวอักษร ใช้อักษรอังกฤษตัวเล็ก ตัวเลข _ และ - ขึ้นต้นด้วยอักษรหรือตัวเลข"},
	{"must be 3 to 64 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", "ต้องยาว 3 ถึง 64 ตัวอักษร ใช้อักษรอังกฤษตัวเล็ก ตัวเลข '.', '_' และ '-' ขึ้นต้นด้วยอักษรหรือตัวเลข"},
	{"must name at least one claim", "ต้องระบุข้อมูลอย่างน้อยหนึ่งรายการ"},
	{"must not contain the username", "ต้องไม่มีชื่อผู้ใช้อยู่ในรหัสผ่าน"},
	{"no agency has this ID", "ไม่พบหน่วยงานนี้"},
	{"unknown claim %q", "ไม่รู้จักข้อมูล %s"},
	{"claim %q is listed twice", "ข้อมูล %s ระบุซ้ำ"},
	{"claim %q was not asked for this purpose", "คำขอไม่ได้ขอข้อมูล %s สำหรับวัตถุประสงค์นี้"},
	{"purpose %q is granted twice", "วัตถุประสงค์ %s อนุญาตซ้ำ"},
	{"purpose %q is listed twice", "วัตถุประสงค์ %s ระบุซ้ำ"},
	{"the application did not ask for purpose %q", "คำขอไม่ได้ขอวัตถุประสงค์ %s"},
	{"at least one purpose is required", "ต้องมีวัตถุประสงค์อย่างน้อยหนึ่งข้อ"},
	{"at least one purpose must be granted", "ต้องอนุญาตวัตถุประสงค์อย่างน้อยหนึ่งข้อ"},
	{"at least one redirect URI is required", "ต้องมี redirect URI อย่างน้อยหนึ่งรายการ"},
	{"an approval needs the grant: purposes, validity period and supervisors", "การอนุมัติต้องระบุวัตถุประสงค์ ระยะเวลา และผู้กำกับดูแล"},
	{"only an approval grants purposes", "เฉพาะการอนุมัติเท่านั้นที่กำหนดวัตถุประสงค์"},
	{"the agency must have appointed at least one supervisor (clause 9)", "หน่วยงานต้องแต่งตั้งเจ้าหน้าที่ผู้กำกับดูแลอย่างน้อยหนึ่งคน (ข้อ 9)"},
	{"a written notice is required to %s a permit (clause 11)", "ต้องมีหนังสือแจ้งเป็นลายลักษณ์อักษร (ข้อ 11)"},
	{"a renewal decides the grant its request recorded; record a new request to change it", "การต่ออายุตัดสินตามคำขอที่บันทึกไว้ หากต้องการเปลี่ยนให้บันทึกคำขอใหม่"},
	{"a renewal takes effect when decided; its validity period says from when", "การต่ออายุมีผลเมื่อตัดสิน ระยะเวลาของหนังสืออนุญาตระบุวันเริ่มมีผล"},
	{"the time the terms were accepted is required", "ต้องระบุเวลาที่ยอมรับเงื่อนไข"},
	{"give either a JWKS or a jwks_uri, not both", "ระบุ JWKS หรือ jwks_uri อย่างใดอย่างหนึ่ง ไม่ใช่ทั้งสอง"},
	{"give either network ranges or the decision that the system may call from any address, not both", "ระบุช่วงเครือข่าย หรือการตัดสินให้เรียกจากที่อยู่ใดก็ได้ อย่างใดอย่างหนึ่ง"},
	{"only for private_key_jwt or encryption", "ใช้ได้เฉพาะ private_key_jwt หรือการเข้ารหัส"},
	{"private_key_jwt needs a signing key (use sig or unstated)", "private_key_jwt ต้องมีกุญแจสำหรับลงนาม (use เป็น sig หรือไม่ระบุ)"},
	{"must be RSA-OAEP-256 or ECDH-ES", "ต้องเป็น RSA-OAEP-256 หรือ ECDH-ES"},
	{"must be A256GCM", "ต้องเป็น A256GCM"},
	{"only with %s_encrypted_response_alg", "ใช้ได้เมื่อระบุ %s_encrypted_response_alg เท่านั้น"},
	{"needs the system's public encryption key: a JWKS or a jwks_uri", "ต้องมีกุญแจสาธารณะสำหรับเข้ารหัสของระบบ: JWKS หรือ jwks_uri"},
	{"the JWKS has no public key for %s (use enc or unstated)", "JWKS ไม่มีกุญแจสาธารณะสำหรับ %s (use เป็น enc หรือไม่ระบุ)"},
	{"private_key_jwt needs the system's public keys: a JWKS or a jwks_uri", "private_key_jwt ต้องมีกุญแจสาธารณะของระบบ: JWKS หรือ jwks_uri"},
	{"the FAPI 2.0 profile needs private_key_jwt", "โปรไฟล์ FAPI 2.0 ต้องใช้ private_key_jwt"},
	{"the FAPI 2.0 profile needs ES256", "โปรไฟล์ FAPI 2.0 ต้องใช้ ES256"},
	{"is set when the system is registered, not part of the application", "กำหนดเมื่อลงทะเบียนระบบ ไม่ใช่ส่วนหนึ่งของคำขอ"},
	{"%q is not a CIDR range such as 203.0.113.0/24 or 2001:db8::/48", "%s ไม่ใช่ช่วงเครือข่าย CIDR เช่น 203.0.113.0/24 หรือ 2001:db8::/48"},
	{"%q has host bits set; did you mean %s?", "%s มีบิตของโฮสต์ หมายถึง %s หรือไม่"},
	{"%s is wider than /%d (IPv4) or /%d (IPv6): name the system's own ranges", "%s กว้างเกิน /%s (IPv4) หรือ /%s (IPv6) ให้ระบุช่วงเครือข่ายของระบบเอง"},
	{"a system that authenticates with a client secret must name its network ranges (clause 10); only a private_key_jwt system may be allowed any address", "ระบบที่ใช้ client secret ต้องระบุช่วงเครือข่าย (ข้อ 10) เฉพาะระบบ private_key_jwt เท่านั้นที่อนุญาตให้เรียกจากที่อยู่ใดก็ได้"},
	{"a system that authenticates with a client secret must name the network ranges its servers call from (clause 10), such as 203.0.113.0/24", "ระบบที่ใช้ client secret ต้องระบุช่วงเครือข่ายที่เซิร์ฟเวอร์เรียกใช้ (ข้อ 10) เช่น 203.0.113.0/24"},
	{"name the network ranges the system calls from (clause 10), or decide explicitly that this private_key_jwt system may call from any address (any_network)", "ระบุช่วงเครือข่ายที่ระบบเรียกใช้ (ข้อ 10) หรือตัดสินอย่างชัดแจ้งให้ระบบ private_key_jwt นี้เรียกจากที่อยู่ใดก็ได้"},
	{notApplied, "ไม่อยู่ในระบบที่หน่วยงานระบุในคำขอ ต้องยื่นคำขอใหม่"},
	{"differs from the system the agency applied for: a new application is needed", "ไม่ตรงกับระบบที่หน่วยงานระบุในคำขอ ต้องยื่นคำขอใหม่"},
	{"an agency with this registration number is registered already", "มีหน่วยงานที่ใช้เลขทะเบียนนี้แล้ว"},
	{"only supervisors belong to an agency", "เฉพาะผู้กำกับดูแลเท่านั้นที่สังกัดหน่วยงาน"},
	{"a supervisor is bound to the agency that appointed them", "ผู้กำกับดูแลต้องสังกัดหน่วยงานที่แต่งตั้ง"},
	{"is not a supervisor appointed by a permit of this agency: supervisors get accounts only as the permit appoints them (clause 9)", "ไม่ใช่ผู้กำกับดูแลที่หนังสืออนุญาตของหน่วยงานนี้แต่งตั้ง (ข้อ 9)"},
	{"the first administrators must be approvers, who can then create and confirm the others", "ผู้ดูแลระบบคนแรกต้องเป็นผู้อนุมัติ"},
	{"does not match: check the authenticator app's clock and try the next code", "รหัสไม่ตรง กรุณาตรวจสอบเวลาของแอปยืนยันตัวตนแล้วลองรหัสถัดไป"},
	{"set a password first", "กรุณาตั้งรหัสผ่านก่อน"},
	{"is an approver's decision when the system is registered, not part of the application", "เป็นการตัดสินของผู้อนุมัติเมื่อขึ้นทะเบียนระบบ ไม่ใช่ส่วนหนึ่งของคำขอ"},
	{"unknown parameter", "ไม่รู้จักพารามิเตอร์นี้"},
	{"give it once", "ระบุได้ครั้งเดียว"},
	{"required", "ต้องกรอก"},
	{"must be after since", "ต้องหลังวันที่เริ่มต้น"},
	{"not a cursor of this trail", "ไม่ใช่ตำแหน่งของบันทึกการตรวจสอบนี้"},
	{"not a cursor of this trail: follow the next and previous links", "ไม่ใช่ตำแหน่งของบันทึกการตรวจสอบนี้ กรุณาใช้ลิงก์หน้าถัดไปและหน้าก่อนหน้า"},
	{"must be success or failure", "ต้องเป็น success หรือ failure"},
	{"must be a national ID number: 13 digits with a valid check digit", "ต้องเป็นเลขประจำตัวประชาชน 13 หลักที่เลขตรวจสอบถูกต้อง"},
	{"give the citizen's pseudonym, not the ID number (DOPA staff can look it up)", "ให้ระบุนามแฝงของประชาชน ไม่ใช่เลขประจำตัวประชาชน (เจ้าหน้าที่กรมการปกครองค้นหานามแฝงได้)"},
	{"must be an identifier (at most 128 characters, no spaces)", "ต้องเป็นรหัสอ้างอิง (ไม่เกิน 128 ตัวอักษร ไม่มีช่องว่าง)"},
	{"must be a month like 2026-12", "ต้องเป็นเดือนในรูปแบบ ค.ศ. ปปปป-ดด เช่น 2026-12"},
	{"must be a number of days from 1 to 365", "ต้องเป็นจำนวนวันตั้งแต่ 1 ถึง 365"},
	{"must be between 1 and 365", "ต้องอยู่ระหว่าง 1 ถึง 365"},
	{"must be an RFC 3339 time, like 2026-01-31T09:00:00+07:00", "ต้องเป็นเวลาตามรูปแบบ RFC 3339 เช่น 2026-01-31T09:00:00+07:00"},
	{"must not have a fragment", "ต้องไม่มีส่วน fragment (#)"},
	{"must not contain wildcards or white space", "ต้องไม่มีอักขระตัวแทน (wildcard) หรือช่องว่าง"},
	{"must be an absolute URL", "ต้องเป็น URL แบบเต็ม"},
	{"must not carry a user name or password", "ต้องไม่มีชื่อผู้ใช้หรือรหัสผ่านใน URL"},
	{"must use https (http only on localhost or 127.0.0.1)", "ต้องใช้ https (ใช้ http ได้เฉพาะ localhost หรือ 127.0.0.1)"},
	{"must use https", "ต้องใช้ https"},
	{"must be a time like 2026-01-31T09:00:00+07:00, 2026-01-31T09:00 or 2026-01-31", "ต้องเป็นเวลา เช่น 2026-01-31T09:00:00+07:00, 2026-01-31T09:00 หรือ 2026-01-31"},
	{"must be an integer from 1 to %d", "ต้องเป็นจำนวนเต็มตั้งแต่ 1 ถึง %s"},
	{"must use https (http only on a loopback host)", "ต้องใช้ https (ใช้ http ได้เฉพาะโฮสต์ loopback)"},
	{"must not contain white space", "ต้องไม่มีช่องว่าง"},
	{"must be an absolute URL of at most %d bytes", "ต้องเป็น URL แบบเต็มยาวไม่เกิน %s ไบต์"},
	{"is larger than %d bytes", "ใหญ่เกิน %s ไบต์"},
	{"is not a JSON Web Key Set", "ไม่ใช่ JSON Web Key Set (JWKS)"},
	{"has no keys", "ไม่มีกุญแจ"},
	{"has more than 20 keys", "มีกุญแจเกิน 20 ดอก"},
	{"key %d is a private or symmetric key; register public keys only", "กุญแจลำดับ %s เป็นกุญแจส่วนตัวหรือกุญแจสมมาตร ให้ลงทะเบียนเฉพาะกุญแจสาธารณะ"},
	{"key %d is not an EC, RSA or Ed25519 public key", "กุญแจลำดับ %s ไม่ใช่กุญแจสาธารณะแบบ EC, RSA หรือ Ed25519"},
	{"key %d is not a valid key", "กุญแจลำดับ %s ไม่ถูกต้อง"},
	{"key %d has use %q, want sig", "กุญแจลำดับ %s มี use เป็น %s ต้องเป็น sig"},
	{"key ID %q is used twice", "รหัสกุญแจ (kid) %s ใช้ซ้ำ"},
	{"key %d is an RSA key of %d bits; at least 2048 are required", "กุญแจลำดับ %s เป็นกุญแจ RSA ขนาด %s บิต ต้องมีอย่างน้อย 2048 บิต"},
}

// thaiField is a compiled entry of thaiFieldFormats.
type thaiField struct {
	re    *regexp.Regexp
	th    string
	verbs int
}

var thaiFields = compileThaiFields(thaiFieldFormats)

// compileThaiFields turns each English format into a pattern whose
// groups are its arguments.
func compileThaiFields(formats [][2]string) []thaiField {
	out := make([]thaiField, 0, len(formats))
	verb := regexp.MustCompile(`%[sdq]`)
	for _, f := range formats {
		parts := verb.Split(f[0], -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		out = append(out, thaiField{re: regexp.MustCompile("^" + strings.Join(parts, "(.+?)") + "$"), th: f[1], verbs: len(parts) - 1})
	}
	// Exact messages before patterns, so that "must be %s, %s or %s"
	// does not swallow a message of its own.
	slices.SortStableFunc(out, func(a, b thaiField) int { return a.verbs - b.verbs })
	return out
}

// fieldMessage is a service field error as the console shows it in l.
func fieldMessage(l, msg string) string {
	if l != "th" {
		return msg
	}
	for _, f := range thaiFields {
		m := f.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		args := make([]any, 0, len(m)-1)
		for _, a := range m[1:] {
			args = append(args, a)
		}
		if n := strings.Count(f.th, "%s"); n < len(args) {
			args = args[:n]
		}
		return fmt.Sprintf(f.th, args...)
	}
	return messages["th"]["field_invalid"]
}
