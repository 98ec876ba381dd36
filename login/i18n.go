package login

import (
	"net/http"
	"strings"
)

// Languages the pages speak; Thai first (the default).
var languages = []string{"th", "en"}

const langCookie = "dopaid-lang"

// lang picks the page language: the citizen's explicit choice (a cookie),
// else the first supported language in Accept-Language, else Thai.
func lang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "th" || c.Value == "en") {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if strings.HasPrefix(tag, "en") {
			return "en"
		}
		if strings.HasPrefix(tag, "th") {
			return "th"
		}
	}
	return "th"
}

// messages holds every user-facing string in both languages.
var messages = map[string]map[string]string{
	"th": {
		"service":          "DOPA-Digital ID",
		"switch":           "English",
		"switch_lang":      "en",
		"signin_title":     "เข้าสู่ระบบด้วย DOPA-Digital ID",
		"signin_for":       "เพื่อเข้าใช้งาน",
		"pid":              "เลขประจำตัวประชาชน 13 หลัก",
		"pid_hint":         "ตัวอย่าง 1-1001-00000-01-8",
		"totp":             "รหัสยืนยัน 6 หลักจากแอปยืนยันตัวตน",
		"recovery_or":      "หรือรหัสกู้คืน",
		"signin_button":    "เข้าสู่ระบบ",
		"first_time":       "ใช้งานครั้งแรก?",
		"prove_link":       "ยืนยันตัวตนกับทะเบียนราษฎร",
		"signin_failed":    "ไม่สามารถเข้าสู่ระบบได้ กรุณาตรวจสอบข้อมูลแล้วลองใหม่",
		"locked":           "มีการพยายามหลายครั้งเกินไป กรุณารอสักครู่แล้วลองใหม่",
		"proof_title":      "ยืนยันตัวตนกับทะเบียนราษฎร",
		"proof_intro":      "กรอกข้อมูลให้ตรงกับบัตรประจำตัวประชาชนของท่าน",
		"first_name":       "ชื่อ (ภาษาไทยหรืออังกฤษ)",
		"last_name":        "นามสกุล (ภาษาไทยหรืออังกฤษ)",
		"birthdate":        "วันเกิด (พุทธศักราช)",
		"day":              "วัน",
		"month":            "เดือน",
		"year_be":          "ปี พ.ศ.",
		"unknown":          "ไม่ทราบ",
		"laser":            "เลขหลังบัตร (ถ้ามี)",
		"laser_hint":       "ตัวอย่าง JT0-1234567-89 ช่วยยกระดับความน่าเชื่อถือของการยืนยันตัวตน",
		"continue":         "ดำเนินการต่อ",
		"proof_failed":     "ข้อมูลไม่ตรงกับทะเบียนราษฎร หรือไม่สามารถใช้บริการได้ กรุณาตรวจสอบแล้วลองใหม่",
		"face_title":       "ยืนยันใบหน้า",
		"face_intro":       "ถ่ายภาพใบหน้าของท่านเพื่อเปรียบเทียบกับภาพในทะเบียนราษฎร ภาพจะใช้เพียงครั้งเดียวและไม่ถูกจัดเก็บ",
		"camera_start":     "เปิดกล้อง",
		"camera_take":      "ถ่ายภาพ",
		"upload":           "หรืออัปโหลดภาพถ่ายใบหน้า (JPEG หรือ PNG)",
		"face_submit":      "ส่งภาพเพื่อยืนยัน",
		"face_failed":      "ไม่สามารถยืนยันใบหน้าได้ กรุณาลองใหม่",
		"face_unavailable": "บริการยืนยันใบหน้าขัดข้องชั่วคราว กรุณาลองใหม่ภายหลัง",
		"kiosk":            "หรือยืนยันที่จุดบริการ (ที่ว่าการอำเภอ) แล้วแจ้งรหัสนี้",
		"kiosk_check":      "ยืนยันที่จุดบริการแล้ว",
		"kiosk_pending":    "ยังไม่ได้รับผลการยืนยันจากจุดบริการ",
		"sim_title":        "โหมดพัฒนา: ตัวจำลองการยืนยันใบหน้า (ไม่ใช่การยืนยันจริง)",
		"sim_match":        "จำลอง: ใบหน้าตรงกัน",
		"sim_no_match":     "จำลอง: ใบหน้าไม่ตรงกัน",
		"sim_attack":       "จำลอง: ตรวจพบการปลอมแปลง",
		"enrol_title":      "ตั้งค่าแอปยืนยันตัวตน",
		"enrol_intro":      "สแกนคิวอาร์โค้ดด้วยแอปยืนยันตัวตน (เช่น Google Authenticator หรือ Microsoft Authenticator) แล้วกรอกรหัส 6 หลักที่แสดง",
		"enrol_key":        "หรือกรอกรหัสนี้ในแอป",
		"enrol_code":       "รหัส 6 หลัก",
		"enrol_button":     "ยืนยันและเปิดใช้งาน",
		"enrol_failed":     "รหัสไม่ถูกต้อง กรุณาลองใหม่",
		"recovery_title":   "รหัสกู้คืน",
		"recovery_intro":   "เก็บรหัสเหล่านี้ไว้ในที่ปลอดภัย แต่ละรหัสใช้เข้าสู่ระบบแทนรหัสจากแอปได้หนึ่งครั้ง รหัสจะแสดงเพียงครั้งนี้ครั้งเดียว",
		"stepup_title":     "ต้องยืนยันตัวตนเพิ่มเติม",
		"stepup_intro":     "แอปพลิเคชันนี้ต้องการระดับความน่าเชื่อถือของการยืนยันตัวตนที่สูงขึ้น กรุณายืนยันใบหน้า",
		"expired":          "คำขอเข้าสู่ระบบนี้หมดอายุหรือไม่มีอยู่ กรุณากลับไปยังแอปพลิเคชันแล้วเริ่มใหม่",
		"error_title":      "ไม่สามารถดำเนินการได้",
		"try_again":        "ลองใหม่",
		"signed_out":       "ท่านได้ออกจากระบบแล้ว",
		"signout":          "ออกจากระบบ",
		"bad_input":        "ข้อมูลที่ส่งมาไม่ถูกต้อง",
	},
	"en": {
		"service":          "DOPA-Digital ID",
		"switch":           "ภาษาไทย",
		"switch_lang":      "th",
		"signin_title":     "Sign in with DOPA-Digital ID",
		"signin_for":       "to continue to",
		"pid":              "13-digit national ID number",
		"pid_hint":         "for example 1-1001-00000-01-8",
		"totp":             "6-digit code from your authenticator app",
		"recovery_or":      "or a recovery code",
		"signin_button":    "Sign in",
		"first_time":       "First time here?",
		"prove_link":       "Prove your identity against the civil registry",
		"signin_failed":    "We could not sign you in. Check what you entered and try again.",
		"locked":           "Too many attempts. Please wait a while and try again.",
		"proof_title":      "Prove your identity against the civil registry",
		"proof_intro":      "Enter your details exactly as on your national ID card.",
		"first_name":       "First name (Thai or English)",
		"last_name":        "Last name (Thai or English)",
		"birthdate":        "Date of birth (Buddhist Era)",
		"day":              "Day",
		"month":            "Month",
		"year_be":          "Year (B.E.)",
		"unknown":          "Unknown",
		"laser":            "Laser code on the back of the card (optional)",
		"laser_hint":       "for example JT0-1234567-89; it raises the assurance of your proofing",
		"continue":         "Continue",
		"proof_failed":     "The details do not match the civil registry, or the service cannot be used. Check them and try again.",
		"face_title":       "Face verification",
		"face_intro":       "Take a photo of your face to compare with your registry photo. The photo is used once and not kept.",
		"camera_start":     "Start camera",
		"camera_take":      "Take photo",
		"upload":           "or upload a photo of your face (JPEG or PNG)",
		"face_submit":      "Send for verification",
		"face_failed":      "Your face could not be verified. Please try again.",
		"face_unavailable": "Face verification is temporarily unavailable. Please try again later.",
		"kiosk":            "or verify at a service point (district office) and give them this code",
		"kiosk_check":      "I have verified at the service point",
		"kiosk_pending":    "No result from the service point has arrived yet.",
		"sim_title":        "Development mode: face verification simulator (not a real verification)",
		"sim_match":        "Simulate: face matches",
		"sim_no_match":     "Simulate: face does not match",
		"sim_attack":       "Simulate: presentation attack",
		"enrol_title":      "Set up your authenticator app",
		"enrol_intro":      "Scan the QR code with an authenticator app (such as Google Authenticator or Microsoft Authenticator) and enter the 6-digit code it shows.",
		"enrol_key":        "or enter this key in the app",
		"enrol_code":       "6-digit code",
		"enrol_button":     "Confirm and turn on",
		"enrol_failed":     "That code is not right. Please try again.",
		"recovery_title":   "Recovery codes",
		"recovery_intro":   "Keep these codes somewhere safe. Each one signs you in once instead of an app code. They are shown only this once.",
		"stepup_title":     "Further verification needed",
		"stepup_intro":     "This application needs a higher identity assurance level. Please verify your face.",
		"expired":          "This sign-in request has expired or does not exist. Please go back to the application and start again.",
		"error_title":      "This request cannot be completed",
		"try_again":        "Try again",
		"signed_out":       "You have signed out.",
		"signout":          "Sign out",
		"bad_input":        "What was sent is not valid.",
	},
}
